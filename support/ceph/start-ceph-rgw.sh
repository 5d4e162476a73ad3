#!/usr/bin/env bash
# Starts a throwaway single-node Ceph cluster (one mon, one OSD, radosgw) for the tests' S3 store:
# no systemd, everything on 127.0.0.1, every file under $CEPH_DIR. Debian 12 packages (Ceph 16.2):
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl
#
# Environment (all optional):
#   CEPH_DIR        working directory, wiped on start         default ${TMPDIR:-/tmp}/ferro-ceph-rgw
#   RGW_PORT        S3 port                                   default 7480
#   MON_PORT        monitor port (msgr2 only)                 default 13300
#   OSD_STORE       memstore (data in RAM) | bluestore        default memstore
#   MEMSTORE_BYTES  memstore capacity                         default 2147483648
#   BLUESTORE_BYTES size of the sparse block file             default 10737418240
#   S3_ACCESS_KEY / S3_SECRET_KEY                             default test-access-key / test-secret-key
# On success prints S3_ENDPOINT, S3_ACCESS_KEY, S3_SECRET_KEY, S3_REGION, S3_FORCE_PATH_STYLE lines and
# writes them to $CEPH_DIR/s3.env. PID files are in $CEPH_DIR/pid (stop-ceph-rgw.sh uses them).
set -euo pipefail

CEPH_DIR=${CEPH_DIR:-${TMPDIR:-/tmp}/ferro-ceph-rgw}
RGW_PORT=${RGW_PORT:-7480}
MON_PORT=${MON_PORT:-13300}
OSD_STORE=${OSD_STORE:-memstore}
MEMSTORE_BYTES=${MEMSTORE_BYTES:-2147483648}
BLUESTORE_BYTES=${BLUESTORE_BYTES:-10737418240}
S3_ACCESS_KEY=${S3_ACCESS_KEY:-test-access-key}
S3_SECRET_KEY=${S3_SECRET_KEY:-test-secret-key}
HERE=$(cd "$(dirname "$0")" && pwd)
START=$SECONDS

say() { echo "[$((SECONDS - START)) s] $*" >&2; }
fail() {
  say "ERROR: $*"
  for f in "$CEPH_DIR"/log/*; do [ -f "$f" ] && { echo "--- last lines of $f" >&2; tail -n 15 "$f" >&2; }; done
  KEEP=1 CEPH_DIR="$CEPH_DIR" "$HERE/stop-ceph-rgw.sh" >&2 || true # stop what started, keep the logs
  exit 1
}

missing=()
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool uuidgen curl; do command -v "$b" >/dev/null || missing+=("$b"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "missing ${missing[*]}: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common uuid-runtime curl" >&2
  exit 1
fi
for p in "$CEPH_DIR"/pid/*.pid; do
  [ -f "$p" ] && kill -0 "$(cat "$p")" 2>/dev/null && { echo "a cluster runs in $CEPH_DIR: stop it first (stop-ceph-rgw.sh)" >&2; exit 1; }
done
for port in "$RGW_PORT" "$MON_PORT"; do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && { echo "127.0.0.1:$port is in use" >&2; exit 1; }
done

rm -rf "$CEPH_DIR"
mkdir -p "$CEPH_DIR"/{log,run,pid,mon.a,osd.0,rgw,crash}
CONF=$CEPH_DIR/ceph.conf
FSID=$(uuidgen)
OSD_UUID=$(uuidgen)
cat >"$CONF" <<CONF
[global]
fsid = $FSID
mon host = v2:127.0.0.1:$MON_PORT
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind ipv6 = false
ms bind msgr1 = false
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
run dir = $CEPH_DIR/run
admin socket = $CEPH_DIR/run/\$name.asok
log file = $CEPH_DIR/log/\$name.log
pid file = $CEPH_DIR/pid/\$name.pid
crash dir = $CEPH_DIR/crash
log to stderr = false
err to stderr = true
# one OSD: pools of size 1, no placement across hosts
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
osd crush chooseleaf type = 0
mon warn on pool no redundancy = false
mon data avail warn = 2
mon data avail crit = 1
# a small, shared machine: few threads
osd op num shards = 1
osd op num threads per shard = 2
ms async op threads = 2
debug ms = 0
debug osd = 0
debug mon = 0
debug rgw = 0
client mount timeout = 30
rados mon op timeout = 60
rados osd op timeout = 60

[mon]
# commit map changes at once (the default waits 1 s per pool operation)
paxos propose interval = 0.05
paxos min wait = 0.01
mon data = $CEPH_DIR/mon.\$id
mon cluster log file = $CEPH_DIR/log/cluster.log

[osd]
osd data = $CEPH_DIR/osd.\$id
osd objectstore = $OSD_STORE
osd crush update on start = true
osd class load list = *
osd class default list = *
memstore device bytes = $MEMSTORE_BYTES
bluestore block create = true
bluestore block size = $BLUESTORE_BYTES
bluestore fsck on mkfs = false
bluestore fsck on mount = false
osd memory target = 939524096
osd max object size = 134217728

[client.rgw]
# auth none cannot satisfy radosgw's default secure-only mon connection
ms mon client mode = crc secure
rgw data = $CEPH_DIR/rgw
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw dns name = localhost
rgw enable usage log = false
rgw thread pool size = 64
# free deleted objects after 30 s (default 2 h; memstore holds them in RAM)
rgw gc obj min wait = 30
rgw gc processor period = 30
rgw_max_chunk_size = 4194304
CONF
export CEPH_CONF=$CONF
ceph_cli() { ceph -c "$CONF" --connect-timeout 20 "$@"; }

monmaptool --create --clobber --fsid "$FSID" --addv a "[v2:127.0.0.1:$MON_PORT]" "$CEPH_DIR/monmap" >/dev/null
ceph-mon -c "$CONF" --no-mon-config --mkfs -i a --monmap "$CEPH_DIR/monmap" >/dev/null 2>"$CEPH_DIR/log/mon-mkfs.err" || fail "mon mkfs failed"
ceph-mon -c "$CONF" -i a 2>>"$CEPH_DIR/log/mon-start.err" || fail "mon did not start"
say "mon started"

OSD_ID=$(ceph_cli osd new "$OSD_UUID") || fail "osd new failed"
ceph-osd -c "$CONF" -i "$OSD_ID" --mkfs --osd-uuid "$OSD_UUID" >"$CEPH_DIR/log/osd-mkfs.out" 2>&1 || fail "osd mkfs failed"
ceph-osd -c "$CONF" -i "$OSD_ID" 2>>"$CEPH_DIR/log/osd-start.err" || fail "osd did not start"
for i in $(seq 1 120); do
  ceph_cli osd dump 2>/dev/null | grep -q "^osd.$OSD_ID up" && break
  [ "$i" = 120 ] && fail "osd.$OSD_ID did not come up"
  sleep 0.5
done
say "osd.$OSD_ID up ($OSD_STORE)"

# radosgw's pools made up front, so the first S3 request does not wait for them
for pool in .rgw.root default.rgw.log default.rgw.control default.rgw.meta \
  default.rgw.buckets.index default.rgw.buckets.data default.rgw.buckets.non-ec; do
  printf 'osd pool create %s 8 8\nosd pool application enable %s rgw\n' "$pool" "$pool"
done | ceph_cli >/dev/null 2>"$CEPH_DIR/log/pools.err" || fail "pool creation failed"

radosgw -c "$CONF" -n client.rgw 2>>"$CEPH_DIR/log/rgw-start.err" || fail "radosgw did not start"
for i in $(seq 1 240); do
  curl -s -o /dev/null "http://127.0.0.1:$RGW_PORT/" && break
  [ "$i" = 240 ] && fail "radosgw does not answer on 127.0.0.1:$RGW_PORT"
  sleep 0.25
done
radosgw-admin -c "$CONF" -n client.admin user create --uid=test --display-name=test \
  --access-key="$S3_ACCESS_KEY" --secret-key="$S3_SECRET_KEY" >"$CEPH_DIR/user.json" 2>"$CEPH_DIR/log/user.err" || fail "S3 user creation failed"
say "radosgw ready on 127.0.0.1:$RGW_PORT"

cat >"$CEPH_DIR/s3.env" <<ENV
S3_ENDPOINT=http://127.0.0.1:$RGW_PORT
S3_ACCESS_KEY=$S3_ACCESS_KEY
S3_SECRET_KEY=$S3_SECRET_KEY
S3_REGION=us-east-1
S3_FORCE_PATH_STYLE=true
ENV
cat "$CEPH_DIR/s3.env"
