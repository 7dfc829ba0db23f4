# shellcheck shell=bash
# Builds the root filesystem of a pair's supervisord image (run by nix/images/layered.nix;
# plain bash + coreutils so tests/nix/test_image_roots.sh runs it without Nix).
#
# usage: bash supervisord-root.sh OUT PYTHON BASE PROGRAMS_CONF --program PATH...
#   PYTHON          a python with supervisor importable (python3.withPackages): bin/python3,
#                   bin/supervisorctl
#   BASE            the library's base files (units/base/): supervisord.conf (the head of
#                   /etc/supervisord.conf), supervisord-pid1.py (/bin/supervisord) and
#                   exit-on-fatal.py (/bin/supervisord-exit-on-fatal)
#   PROGRAMS_CONF   the pair's program sections, appended to BASE's supervisord.conf
#   --program PATH  an executable, linked as /bin/$(basename PATH); repeatable
set -euo pipefail

die() {
  echo "supervisord-root.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: supervisord-root.sh OUT PYTHON BASE PROGRAMS_CONF --program PATH..." >&2
  exit 2
}

# BASE's script with its first line (#!/usr/bin/python3) naming PYTHON's python3. A file
# of its own, not a link: PID 1's comm is then "supervisord".
with_python() { # script python destination
  { echo "#!$2/bin/python3"; tail -n +2 "$1"; } > "$3"
  chmod 555 "$3"
}

main() {
  [ $# -ge 4 ] || usage
  local out=$1 python=$2 base=$3 conf=$4 program tool
  # A new directory, as a build's $out is: never a tree that exists (such as /).
  if [ -z "$out" ] || [ -e "$out" ]; then
    echo "supervisord-root.sh: OUT must be a directory that does not exist yet, got '$out'" >&2
    exit 1
  fi
  shift 4
  local programs=()
  while [ $# -gt 0 ]; do
    if [ $# -lt 2 ] || [ "$1" != --program ]; then usage; fi
    programs+=("$2")
    shift 2
  done
  [ ${#programs[@]} -gt 0 ] || die "no --program given"
  for tool in python3 supervisorctl; do
    [ -x "$python/bin/$tool" ] || die "no $python/bin/$tool"
  done
  mkdir -p "$out/bin" "$out/etc" "$out/run" "$out/tmp" "$out/var/log" "$out/root"
  with_python "$base/supervisord-pid1.py" "$python" "$out/bin/supervisord"
  with_python "$base/exit-on-fatal.py" "$python" "$out/bin/supervisord-exit-on-fatal"
  ln -s "$python/bin/supervisorctl" "$out/bin/supervisorctl"
  for program in "${programs[@]}"; do
    if [ ! -f "$program" ] || [ ! -x "$program" ]; then die "no executable $program"; fi
    ln -s "$program" "$out/bin/$(basename "$program")"
  done
  # supervisorctl finds /etc/supervisord.conf on its own (supervisor's default search path).
  cat "$base/supervisord.conf" "$conf" > "$out/etc/supervisord.conf"
  ln -s ../run "$out/var/run"
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin' > "$out/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' > "$out/etc/group"
}

main "$@"
