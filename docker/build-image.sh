#!/usr/bin/env bash
# `npm run image`: builds the container image ferro-oci-server:<package version> into the
# Docker daemon that DOCKER_HOST names (default: the local one) and says how long it took.
#
# The build itself runs with no network: the npm packages come from .npm-cache, filled here
# first from package-lock.json. The bases: BASE and BUILD_BASE when set; else the official
# node:24-bookworm-slim and node:24-bookworm when the daemon has them or can pull them; else
# the local equivalents made by docker/make-base.sh (Debian packages + Node.js from npm).
# IMAGE_TAG overrides the tag.
set -euo pipefail
cd "$(dirname "$0")/.."
export DOCKER_BUILDKIT=0 # the classic builder: the docker CLI needs no buildx plugin
start=$SECONDS
version=$(node -p 'require("./package.json").version')
tag=${IMAGE_TAG:-ferro-oci-server:$version}

if ! docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
  echo "image: no Docker daemon answers at ${DOCKER_HOST:-unix:///var/run/docker.sock}: start one (e.g. systemctl start docker, or dockerd &) or set DOCKER_HOST" >&2
  exit 1
fi
have() { docker image inspect "$1" >/dev/null 2>&1; }
pulled() { have "$1" || timeout 120 docker pull -q "$1" >/dev/null 2>&1; }
if [ -z "${BASE:-}" ] || [ -z "${BUILD_BASE:-}" ]; then
  if pulled node:24-bookworm-slim && pulled node:24-bookworm; then
    BASE=node:24-bookworm-slim BUILD_BASE=node:24-bookworm
  else
    echo "image: node:24-bookworm-slim cannot be pulled: making a local equivalent (docker/make-base.sh)" >&2
    mapfile -t bases < <(docker/make-base.sh)
    BASE=${bases[0]} BUILD_BASE=${bases[1]}
  fi
fi
base_done=$SECONDS

# The npm packages of package-lock.json, into .npm-cache (the build context carries it).
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp package.json package-lock.json "$tmp/"
(cd "$tmp" && npm ci --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error --cache "$OLDPWD/.npm-cache" >/dev/null)
cache_done=$SECONDS

docker build --network none -q \
  --build-arg "BASE=$BASE" --build-arg "BUILD_BASE=$BUILD_BASE" \
  --build-arg "VERSION=$version" \
  --build-arg "SOURCE=$(git remote get-url origin 2>/dev/null || true)" \
  --build-arg "REVISION=$(git rev-parse HEAD 2>/dev/null || true)" \
  -t "$tag" . >/dev/null

size=$(docker image inspect --format '{{.Size}}' "$tag" | awk '{printf "%.0f MB", $1/1e6}')
echo "image: built $tag ($size) from $BASE in $((SECONDS - start)) s (bases $((base_done - start)) s, npm cache $((cache_done - base_done)) s, docker build $((SECONDS - cache_done)) s)"
