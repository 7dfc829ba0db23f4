#!/usr/bin/env bash
# The fault benchmark (tests/bench/faults.py) in the cgroup v2 guest: builds (or reuses)
# the sid guest and the sid stand-ins, boots the guest (or --reuse's a running one), loads
# the images of the approaches into the engine, runs faults.py there against the guest's
# own engine, and copies faults.md, faults.svg and faults.json (and the run's log) to --out.
#   faults.sh [--engine docker|podman] [--rounds N] [--approaches LIST] [--out DIR] [--keep] [--reuse] [FAULTS.PY OPTION...]
# --out      host directory for the results (default $XDG_CACHE_HOME or ~/.cache, /duet/faults-cgroupv2-TIMESTAMP)
# --keep     leave the guest running afterwards; --reuse: run in an already running guest
# Any other option goes to faults.py as it is, after the TCG settings below, so it wins.
#
# TCG settings: the guest is emulated on 2 shared cores, several times slower than the host,
# and the load generator runs in the guest beside the engine. 50 fresh connections/s and
# one kept-alive request every 100 ms (200/s and 20 ms on the host) keep the Python load
# generator from starving the approaches of CPU and still resolve a gap to 20 ms; a
# request times out after 4 s (2 s), a fault's window ends after 8 s without a failure
# (3 s), a fault not served again within 120 s (30 s) makes the benchmark restart the
# approach, and the OOM burst lasts 15 s (5 s): `docker exec` alone takes 1-3 s here.
set -euo pipefail
# shellcheck source=tests/cgroupv2/lib.sh
. "$(dirname "$0")/lib.sh"

TCG_SETTINGS=(--rate 50 --kept-interval 0.1 --timeout 4 --quiet 8 --fault-timeout 120 --oom-burst 15)
GUEST_OUT=/root/faults-out

usage() {
  echo "usage: $0 [--engine docker|podman] [--rounds N] [--approaches LIST] [--out DIR] [--keep] [--reuse] [FAULTS.PY OPTION...]" >&2
  exit 2
}

# The runner script in the guest: faults.py with the given arguments, detached from the SSH
# session (a dropped connection must not end a run of half an hour), output to run.log,
# exit status to rc.
guest_runner() {
  printf 'echo $$ >%s/pid\ncd /root/duet\n' "$GUEST_OUT"
  printf 'python3 tests/bench/faults.py'
  printf ' %q' "$@" --out "$GUEST_OUT"
  printf ' >%s/run.log 2>&1\necho $? >%s/rc\n' "$GUEST_OUT" "$GUEST_OUT"
}

# Shows the guest's run.log as it grows, into LOG too, until the runner has exited; picks
# up where it was after a dropped SSH connection.
follow() {
  local log=$1 shown state
  : >"$log"
  while :; do
    shown=$(wc -l <"$log")
    # shellcheck disable=SC2016  # expands in the guest
    "$CG2_DIR/vm.sh" ssh "tail -n +$((shown + 1)) --pid=\$(cat $GUEST_OUT/pid) -f $GUEST_OUT/run.log" | tee -a "$log" || true
    "$CG2_DIR/vm.sh" status || cg2_die "the guest stopped during the run"
    # shellcheck disable=SC2016  # expands in the guest
    state=$("$CG2_DIR/vm.sh" ssh "if test -s $GUEST_OUT/rc; then echo done;
      elif kill -0 \$(cat $GUEST_OUT/pid) 2>/dev/null; then echo running; else echo gone; fi") || state=unreachable
    case $state in
      done) return 0 ;;
      gone) cg2_die "faults.py's runner in the guest ended without an exit status (log: $log)" ;;
    esac
    sleep 5
  done
}

main() {
  local engine=docker rounds=1 approaches=systemd,supervisord,separate out="" keep=0 reuse=0 passed=()
  while [ $# -gt 0 ]; do
    case $1 in
      --engine) [ $# -ge 2 ] || usage; engine=$2; shift 2 ;;
      --rounds) [ $# -ge 2 ] || usage; rounds=$2; shift 2 ;;
      --approaches) [ $# -ge 2 ] || usage; approaches=$2; shift 2 ;;
      --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
      --keep) keep=1; shift ;;
      --reuse) reuse=1; keep=1; shift ;;
      --run|--image-dir|--render|--run=*|--image-dir=*|--render=*)
        cg2_die "$1: faults.sh sets faults.py's run script and images itself" ;;
      -h|--help) usage ;;
      *) passed+=("$1"); shift ;;
    esac
  done
  case $engine in docker|podman) ;; *) cg2_die "--engine: docker or podman, not '$engine'" ;; esac
  [[ $rounds =~ ^[1-9][0-9]*$ ]] || cg2_die "--rounds: a whole number >= 1, not '$rounds'"
  [[ $approaches =~ ^(systemd|supervisord|separate)(,(systemd|supervisord|separate))*$ ]] \
    || cg2_die "--approaches: a comma-separated subset of systemd,supervisord,separate, not '$approaches'"
  [ -n "$out" ] || out=${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/duet/faults-cgroupv2-$(date +%Y%m%d-%H%M%S)
  mkdir -p "$out"

  local t_all=$SECONDS t
  cg2_ready "$approaches" "$engine" tests/bench $keep $reuse

  local args=(--engine "$engine" --rounds "$rounds" --approaches "$approaches" "${TCG_SETTINGS[@]}" "${passed[@]}")
  cg2_log "faults.py in the guest: ${args[*]}"
  t=$SECONDS
  "$CG2_DIR/vm.sh" ssh "rm -rf $GUEST_OUT && mkdir -p $GUEST_OUT && cat >/root/faults-run.sh" < <(guest_runner "${args[@]}")
  "$CG2_DIR/vm.sh" ssh "setsid bash /root/faults-run.sh </dev/null >/dev/null 2>&1 &"
  sleep 2
  follow "$out/faults.log"
  local rc
  rc=$("$CG2_DIR/vm.sh" ssh "cat $GUEST_OUT/rc")
  cg2_step "faults.py" $t
  [ "$rc" = 0 ] || cg2_die "faults.py exited $rc in the guest: $(tail -1 "$out/faults.log")"
  "$CG2_DIR/vm.sh" ssh "tar -C $GUEST_OUT -cf - faults.md faults.svg faults.json" | tar -C "$out" -xf -
  cg2_log "wrote $out/faults.md, faults.svg, faults.json (log: faults.log); total $((SECONDS - t_all)) s"
}

main "$@"
