# shellcheck shell=bash
# Shared by the CI stage scripts and the test tools (sourced, not run).
# A missing tool or engine is a failure with one line naming it, never a skip.

# Stops the calling script: "SCRIPT: MESSAGE" on stderr, exit 1.
fail() {
  echo "FAIL: ${0##*/}: $*" >&2
  exit 1
}

# need TOOL...: every TOOL is on PATH, or one line names all that are missing.
need() {
  local tool missing=()
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
  done
  [ ${#missing[@]} -eq 0 ] || fail "missing tool(s): ${missing[*]} (tests/install-deps.sh installs them)"
}

# need_engine ENGINE...: the engine answers (docker: a reachable daemon; podman: usable storage).
need_engine() {
  local engine
  for engine in "$@"; do
    need "$engine"
    "$engine" info >/dev/null 2>&1 || case $engine in
      docker) fail "docker engine not reachable (DOCKER_HOST=${DOCKER_HOST:-unset}; tests/ci/private-engines.sh NAME COMMAND starts one)" ;;
      *) fail "$engine not usable: $("$engine" info 2>&1 | tail -1)" ;;
    esac
  done
}

# need_release_bins: the cargo-built release binaries the images carry.
need_release_bins() {
  local repo b
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  for b in duet-server duet-client; do
    [ -x "$repo/target/release/$b" ] || fail "missing target/release/$b (cargo build --release --bins)"
  done
}

# load_into_podman DIR NAME...: loads each DIR/NAME.tar.gz (tests/standins/build.sh --save
# writes them) into Podman and checks that its image ID is Docker's localhost/NAME, the
# image this run built. Podman 4.3 cannot read a gzip'd docker-archive itself: it gets the
# archive unpacked.
load_into_podman() {
  local dir=$1 name ref want got
  shift
  for name in "$@"; do
    [ -f "$dir/$name.tar.gz" ] || fail "the builder saved no $dir/$name.tar.gz"
    gzip -dc "$dir/$name.tar.gz" | podman load -q >/dev/null || fail "podman load of $dir/$name.tar.gz"
    ref=localhost/$name:latest
    want=$(docker image inspect -f '{{.Id}}' "$ref")
    got=$(podman image inspect -f '{{.Id}}' "$ref")
    [ "${want#sha256:}" = "${got#sha256:}" ] || fail "$ref in podman is $got, this run built $want"
  done
  echo "podman holds the images this run built ($*)"
}
