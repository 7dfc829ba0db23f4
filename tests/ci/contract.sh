#!/usr/bin/env bash
# CI stage: the container contract against stand-in images in real Docker and Podman.
# Builds the release binaries and the four stand-in images, checks the run script's
# argument handling and the images' config, then runs every approach on Docker and the
# systemd approach on Podman (loading the images from tarballs, as the Nix app does).
# Installs nothing; a missing tool or engine fails the stage.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "FAIL: contract: $*" >&2; exit 1; }
for tool in cargo docker podman debootstrap shellcheck curl python3 timeout; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool"
done
docker info >/dev/null 2>&1 || fail "docker engine not reachable"
podman info >/dev/null 2>&1 || fail "podman not usable"

port=${DUET_CONTRACT_PORT:-8080}
images=.cache/contract-images

echo "-- shellcheck"
shellcheck units/run.sh tests/standins/build.sh tests/ci/contract.sh

echo "-- run script: bad arguments give usage and exit 2"
for args in "--bogus" "nonsense" "--port 0" "--port 70000" "--engine rkt" "systemd separate" "--port"; do
  # shellcheck disable=SC2086  # split on purpose
  if units/run.sh $args >/dev/null 2>&1; then status=0; else status=$?; fi
  [ "$status" = 2 ] || fail "units/run.sh $args exited $status, expected 2"
done

echo "-- cargo build --release"
cargo build --release --bins --quiet

echo "-- stand-in images"
tests/standins/build.sh --save "$images"
python3 tests/standins/verify_images.py --engine docker

echo "-- contract on docker: systemd, supervisord, separate"
python3 tests/contract/run_local.py --engine docker --port "$port" systemd supervisord separate

echo "-- run script in the foreground: Ctrl-C removes what it made"
python3 tests/contract/foreground.py --engine docker --port "$port" separate

echo "-- contract on podman: systemd (images loaded from $images)"
python3 tests/contract/run_local.py --engine podman --port "$port" --image-dir "$images" systemd
python3 tests/standins/verify_images.py --engine podman
