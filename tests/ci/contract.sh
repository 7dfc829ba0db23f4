#!/usr/bin/env bash
# CI stage "contract": the container contract against stand-in images in real Docker and
# Podman. Builds the release binaries and the four stand-in images, checks the run
# script's flag policy, argument handling, refusals and interruption and the images'
# config and contents, then runs every approach on Docker, and on Podman the systemd
# approach with the images loaded from the saved tarballs (as the Nix app does). Podman's images are checked to be the very ones
# this run built (same image IDs as Docker's). Run it under tests/ci/private-engines.sh
# (tests/ci.sh does) so that no image from an earlier build can stand in.
# Installs nothing; a missing tool or engine fails the stage.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

port=${DUET_CONTRACT_PORT:-8080}
images=.cache/contract-images
names=(duet-systemd duet-supervisord duet-server duet-client)

main() {
  need cargo debootstrap curl python3 timeout gzip
  need_engine docker podman

  echo "-- run script: every cell of the flag table, names, --help, usage errors (no engine)"
  python3 tests/runscript/flags.py

  echo "-- pair specs: every validation rule of units/run/pairspec.py, duet's version (no engine)"
  python3 -m unittest discover -s tests/specs -p 'test_*.py'

  echo "-- the contract's test machine: the NixOS driver's command semantics, local and over SSH"
  python3 tests/contract/test_machine.py

  echo "-- cargo build --release"
  cargo build --locked --release --bins --quiet

  echo "-- stand-in images (saved to $images)"
  rm -rf "$images"
  tests/standins/build.sh --save "$images"
  python3 tests/standins/verify_images.py --engine docker

  echo "-- contract on docker: systemd, supervisord, separate"
  python3 tests/contract/run_local.py --engine docker --port "$port" systemd supervisord separate

  echo "-- run script in the foreground: Ctrl-C removes what it made"
  python3 tests/contract/foreground.py --engine docker --port "$port" separate

  echo "-- run script interrupted at every point of start-up: nothing left behind"
  python3 tests/runscript/interrupt.py

  echo "-- run script stops: the exec hints end by themselves; a stop the engine forced says so"
  python3 tests/runscript/stops.py

  echo "-- podman: the saved images"
  load_into_podman "$images" "${names[@]}"
  python3 tests/standins/verify_images.py --engine podman

  echo "-- run script refusals: one line, nothing created"
  python3 tests/runscript/refusals.py

  echo "-- contract on podman: systemd (the run script loads the images from $images)"
  python3 tests/contract/run_local.py --engine podman --port "$port" --image-dir "$images" systemd
}

main "$@"
