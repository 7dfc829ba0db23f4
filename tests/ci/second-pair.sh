#!/usr/bin/env bash
# CI stage "second-pair": the library applied to a pair that is not duet's, as the proof
# that it is general. The pair is tests/second-pair/ (a Python http.server and a polling
# client, port 8000, no abilities). Tests the two programs against each other, builds
# its four stand-in images from its spec, checks them against it (verify_images.py:
# names, tags, config, files, programs), then runs the generic container contract with
# units/run.sh on all three approaches on Docker, and on Podman the approaches this host
# allows (Podman 4.3 here has no DNS plugin, so no separate approach), with the images
# loaded from the saved tarballs.
# Nothing is passed that the spec says (no --port): run.sh and the contract must take
# it all from tests/second-pair/pair.json. Run it under tests/ci/private-engines.sh
# (tests/ci.sh does). Installs nothing; a missing tool, engine or library piece fails
# the stage with one line naming it.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

spec=tests/second-pair/pair.json
images=.cache/second-pair-images

# spec_field PATH...: a value of the spec, e.g. `spec_field server executable`.
spec_field() {
  python3 -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2:]:
    value = value[key]
print(value)' "$spec" "$@"
}

# need_option OPTION COMMAND...: COMMAND's --help mentions OPTION, or the stage fails
# naming the piece of the library that is missing.
need_option() {
  local option=$1 out
  shift
  out=$("$@" --help 2>&1 || true)
  grep -e "$option" >/dev/null <<<"$out" \
    || fail "$* does not take $option yet: that piece of the library is missing"
}

# The programs as the images carry them: the script under each executable name.
make_bin_dir() { # dir
  install -m 0755 tests/second-pair/seed.py "$1/$(spec_field server executable)"
  install -m 0755 tests/second-pair/seed.py "$1/$(spec_field client executable)"
}

main() {
  local version bin_dir key names
  need python3 debootstrap curl timeout gzip install
  need_engine docker podman

  echo "-- the spec: $spec"
  python3 units/run/pairspec.py check "$spec"
  version=$(spec_field version)
  names=()
  for key in systemd supervisord server client; do names+=("$(spec_field name)-$key"); done

  echo "-- the programs against each other on loopback"
  python3 tests/second-pair/test_programs.py

  echo "-- the library takes a spec: builder, run script, contract"
  need_option --spec tests/standins/build.sh
  need_option --bin-dir tests/standins/build.sh
  need_option --spec units/run.sh
  need_option --spec python3 tests/contract/run_local.py
  need_option --spec python3 tests/standins/verify_images.py

  echo "-- stand-in images from the spec (saved to $images)"
  bin_dir=$(mktemp -d)
  # shellcheck disable=SC2064  # expand now: bin_dir is local
  trap "rm -rf '$bin_dir'" EXIT
  make_bin_dir "$bin_dir"
  rm -rf "$images"
  tests/standins/build.sh --spec "$spec" --bin-dir "$bin_dir" --version "$version" --save "$images"
  python3 tests/standins/verify_images.py --spec "$spec" --engine docker --version "$version"

  echo "-- generic contract on docker: systemd, supervisord, separate"
  python3 tests/contract/run_local.py --spec "$spec" --engine docker systemd supervisord separate

  echo "-- podman: the saved images"
  load_into_podman "$images" "${names[@]}"
  python3 tests/standins/verify_images.py --spec "$spec" --engine podman --version "$version"

  echo "-- generic contract on podman: systemd, supervisord (the run script loads the images from $images)"
  python3 tests/contract/run_local.py --spec "$spec" --engine podman --image-dir "$images" systemd supervisord
}

main "$@"
