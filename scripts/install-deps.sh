#!/usr/bin/env bash
# Installs the Debian packages Cohort needs to build, test and benchmark.
# Idempotent: installs only what is missing. Must run as root (or via sudo) on Debian bookworm.
#   scripts/install-deps.sh          build + test dependencies
#   scripts/install-deps.sh --bench  also the peers measured by `make bench`
#   scripts/install-deps.sh --cluster  also the servers the cluster tests start (S3: Swift + memcached,
#                                      HAProxy)
#   scripts/install-deps.sh --build-only  only what builds the binary (the image's build stage,
#                                      deploy/image/Containerfile)
set -euo pipefail

# postgresql: the server the PostgreSQL store's tests start (scripts/pg-server.sh).
# python3-pytest/-yaml/-jsonschema + unzip: the Helm chart's tests (tests/chart; helm itself comes from
# npm via scripts/install-helm.sh).
# chromium + node for the browser test (tests/browser: playwright-core from npm drives Debian's
# chromium); node comes from Debian only when the machine has none.
pkgs=(chromium build-essential cmake ninja-build pkg-config clang clang-format libclang-rt-14-dev
      libcmocka-dev libjansson-dev zlib1g-dev
      libsqlite3-dev libpq-dev postgresql libsodium-dev libmicrohttpd-dev libcurl4-openssl-dev curl python3
      libnats-dev nats-server libhiredis-dev redis-server
      python3-pytest python3-yaml python3-jsonschema unzip)
for arg in "$@"; do
  case $arg in
  --build-only)
    pkgs=(build-essential cmake ninja-build pkg-config libjansson-dev zlib1g-dev libsqlite3-dev libpq-dev
          libsodium-dev libmicrohttpd-dev libcurl4-openssl-dev libnats-dev libhiredis-dev)
    build_only=1
    ;;
  --bench)
    # OpenBLAS so that FAISS and numpy run on a real BLAS, not the slow reference one.
    pkgs+=(python3 python3-numpy python3-sklearn python3-faiss libopenblas0-pthread time wrk)
    ;;
  --cluster)
    # An S3 server that verifies signatures (scripts/s3-server.sh): Swift with s3api + memcached;
    # HAProxy, the load balancer in front of the API replicas (scripts/haproxy.sh).
    pkgs+=(swift-proxy swift-account swift-container swift-object memcached haproxy)
    ;;
  *) echo "install-deps: unknown option $arg" >&2; exit 2 ;;
  esac
done

if [ -z "${build_only:-}" ] && ! { command -v node && command -v npm; } >/dev/null; then
  pkgs+=(nodejs npm)
fi

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
