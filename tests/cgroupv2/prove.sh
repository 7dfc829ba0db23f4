#!/usr/bin/env bash
# The cgroup v2 proving ground from nothing: builds (or reuses) the sid guest and
# sid stand-in images, boots the guest, loads the images into each engine and
# runs the container contract unchanged in it; with the systemd approach, also on the
# systemd image of the Nix image layout over sid's systemd.
#   prove.sh [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep] [--reuse] [--time-scale N]
# --keep leaves the guest running afterwards (vm.sh ssh … to look inside, vm.sh stop);
# --reuse runs in an already running guest (and leaves it running).
# --time-scale N (default 10, as in CI) stretches the contract's time bounds for the emulated guest.
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"
here=$(dirname "$0")

usage() {
  echo "usage: $0 [--engine docker,podman] [--approach systemd,supervisord,separate] [--keep] [--reuse] [--time-scale N]" >&2
  exit 2
}

main() {
  local engines=docker,podman approaches=systemd,supervisord,separate keep=0 reuse=0 scale=10
  while [ $# -gt 0 ]; do
    case $1 in
      --engine) [ $# -ge 2 ] || usage; engines=$2; shift 2 ;;
      --approach) [ $# -ge 2 ] || usage; approaches=$2; shift 2 ;;
      --keep) keep=1; shift ;;
      --reuse) reuse=1; keep=1; shift ;;
      --time-scale) [ $# -ge 2 ] || usage; scale=$2; shift 2 ;;
      *) usage ;;
    esac
  done
  local t_all=$SECONDS t
  cg2_ready "$approaches" "$engines" tests/contract $keep $reuse

  t=$SECONDS
  local rc=0
  local layout=()
  [[ ",$approaches," != *,systemd,* ]] || layout=(--systemd-layout "$(cg2_layout_image)")
  python3 "$here/run_contract.py" --engine "$engines" --approach "$approaches" --time-scale "$scale" \
    "${layout[@]}" || rc=$?
  cg2_step "contract" $t
  cg2_log "proving ground total: $((SECONDS - t_all)) s"
  return $rc
}

main "$@"
