#!/usr/bin/env bash
# Stops the daemons start-ceph-rgw.sh started in $CEPH_DIR (by their PID files only: never by name),
# SIGTERM then SIGKILL after 10 s, and removes $CEPH_DIR unless KEEP=1.
set -uo pipefail
CEPH_DIR=${CEPH_DIR:-${TMPDIR:-/tmp}/ferro-ceph-rgw}
[ -d "$CEPH_DIR/pid" ] || { echo "nothing to stop in $CEPH_DIR"; exit 0; }
pids=()
for f in "$CEPH_DIR"/pid/*.pid; do
  [ -f "$f" ] || continue
  p=$(cat "$f")
  kill -0 "$p" 2>/dev/null && kill -TERM "$p" && pids+=("$p")
done
for _ in $(seq 1 50); do
  alive=0
  for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
  [ $alive = 0 ] && break
  sleep 0.2
done
for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null && kill -KILL "$p"; done
[ "${KEEP:-0}" = 1 ] || rm -rf "$CEPH_DIR"
echo "stopped: ${pids[*]:-none}"
