#!/usr/bin/env bash
# Builds the cohort container image from deploy/image/Containerfile (`make image`), with podman,
# else buildah. Not part of `make test`: it takes minutes and needs a base image.
#
#   scripts/image-build.sh [--offline-base] [--sandbox] [--tag NAME:TAG] [--mirror URL] [--push]
#
# The base (both stages): Debian bookworm. By default docker.io/library/debian:bookworm-slim,
# which needs a registry or a registry mirror (registries.conf). Without one, --offline-base makes
# it here with mmdebstrap from a Debian mirror (--mirror, default http://deb.debian.org/debian) and
# `podman import`s it as localhost/cohort-base:bookworm; $COHORT_IMAGE_BASE names any other base.
# Either way the stages install packages from the Debian mirrors only (apt inside the build).
# --sandbox: for a machine without systemd (CI containers): runc, cgroupfs and lower ulimits via a
# containers.conf under out/image (as /work/shared/STYLE.md notes), and the host's network for
# the RUN steps (no netavark/iptables needed).
# --push: push the tag afterwards (podman/buildah push, to the registry the tag names).
# Then runs `cohort serve` in it as the chart runs a pod (user 10001, read-only root, no
# capabilities) and waits for /readyz.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/out/image
TAG=${COHORT_IMAGE_TAG:-localhost/cohort:$(sed -n 's/^project(cohort VERSION \([0-9.]*\).*/\1/p' "$ROOT/CMakeLists.txt")}
BASE=${COHORT_IMAGE_BASE:-docker.io/library/debian:bookworm-slim}
MIRROR=http://deb.debian.org/debian
offline=0 sandbox=0 push=0
while [ $# -gt 0 ]; do
  case $1 in
  --offline-base) offline=1 ;;
  --sandbox) sandbox=1 ;;
  --push) push=1 ;;
  --tag) TAG=$2; shift ;;
  --mirror) MIRROR=$2; shift ;;
  *) echo "image-build: unknown option $1 (see the comment at the top of $0)" >&2; exit 2 ;;
  esac
  shift
done

if command -v podman >/dev/null; then
  tool=podman
elif command -v buildah >/dev/null; then
  tool=buildah
else
  echo "image-build: needs podman or buildah (Debian: apt-get install podman)" >&2
  exit 1
fi
mkdir -p "$OUT"
if [ $sandbox = 1 ]; then
  cat >"$OUT/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  export CONTAINERS_CONF=$OUT/containers.conf
fi

if [ $offline = 1 ] && [ -z "${COHORT_IMAGE_BASE:-}" ]; then
  BASE=localhost/cohort-base:bookworm
  if ! $tool inspect "$BASE" >/dev/null 2>&1; then
    command -v mmdebstrap >/dev/null || { echo "image-build: --offline-base needs mmdebstrap" >&2; exit 1; }
    echo "image-build: making $BASE with mmdebstrap from $MIRROR" >&2
    mmdebstrap --quiet --variant=minbase bookworm "$OUT/bookworm.tar" "$MIRROR" </dev/null
    $tool import "$OUT/bookworm.tar" "$BASE" >/dev/null
    rm -f "$OUT/bookworm.tar"
  fi
fi

echo "image-build: building $TAG on $BASE with $tool" >&2
start=$(date +%s)
args=(-f "$ROOT/deploy/image/Containerfile" --ignorefile "$ROOT/deploy/image/Containerfile.dockerignore"
      --build-arg "BASE=$BASE" -t "$TAG")
[ $sandbox = 0 ] || args+=(--network host)
if [ $tool = podman ]; then
  podman build "${args[@]}" "$ROOT"
else
  buildah bud "${args[@]}" "$ROOT"
fi
echo "image-build: built $TAG in $(($(date +%s) - start)) s" >&2

# The image runs as the chart runs it: its own user, a read-only root file system with tmpfs on
# data_dir and /tmp, no capabilities. `cohort serve` on the embedded store must answer /readyz.
if [ $tool = podman ]; then
  podman image inspect "$TAG" --format 'image-build: {{.Size}} bytes, user {{.Config.User}}, entrypoint {{.Config.Entrypoint}}' >&2
  PORT=${COHORT_IMAGE_SMOKE_PORT:-18480}
  name=cohort-image-smoke-$$
  run=(podman run -d --rm --name "$name" --read-only --user 10001:10001 --cap-drop ALL
       --security-opt no-new-privileges --tmpfs /tmp --tmpfs /var/lib/cohort:rw,U)
  if [ $sandbox = 1 ]; then
    run+=(--network host)
    listen=127.0.0.1:$PORT
  else
    run+=(-p "127.0.0.1:$PORT:$PORT")
    listen=0.0.0.0:$PORT
  fi
  # The password travels in the environment (-e NAME passes this process's value), not in argv.
  COHORT_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=\n')
  export COHORT_ADMIN_PASSWORD
  "${run[@]}" -e COHORT_ADMIN_PASSWORD "$TAG" serve --listen "$listen" --data_dir /var/lib/cohort >/dev/null
  trap 'podman rm -f "$name" >/dev/null 2>&1 || true' EXIT
  ok=0
  for _ in $(seq 1 100); do
    if curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null 2>&1; then
      ok=1
      break
    fi
    sleep 0.2
  done
  if [ $ok = 0 ]; then
    podman logs "$name" >&2 || true
    echo "image-build: cohort serve in the image did not become ready" >&2
    exit 1
  fi
  echo "image-build: cohort serve in the image is ready (read-only root, user 10001): $(curl -fsS "http://127.0.0.1:$PORT/readyz")" >&2
  podman rm -f "$name" >/dev/null
  trap - EXIT
fi
if [ $push = 1 ]; then
  $tool push "$TAG"
fi
