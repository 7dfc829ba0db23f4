#!/usr/bin/env bash
# CI stage "image-layout": the root filesystems that nix/images/*-root.sh build, booted for
# real without Nix (Debian's systemd 252 and supervisor stand in for nixpkgs'): systemd
# reaches `running` with only the units the image links, `docker stop` ends well before
# SIGKILL, supervisord runs both programs as their users, and the container contract
# passes on both trees in Podman. No Nix build runs. Needs the release binaries, Docker,
# Podman and debootstrap; run it under tests/ci/private-engines.sh (tests/ci.sh does).
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

main() {
  need nix-instantiate debootstrap python3 curl tar
  need_engine docker podman
  need_release_bins
  echo "-- image root filesystems booted in Docker and Podman, contract included (Debian packages as stand-ins)"
  tests/nix/test_layout_images.sh || fail "image layouts"
  echo "image-layout: passed"
}

main "$@"
