# shellcheck shell=bash
# Builds the root filesystem of a pair's systemd image (run by nix/images/layered.nix in a
# runCommand; plain bash + coreutils so tests/nix/test_image_roots.sh runs it without Nix).
#
# usage: bash systemd-root.sh OUT NAME SYSTEMD BASE UNITS [OPTION]...
#   OUT       directory to create
#   NAME      the pair's name (the spec's name), for /etc/os-release
#   SYSTEMD   systemd package: lib/systemd/systemd, bin/ (systemctl), example/systemd/system/
#   BASE      the library's base files (units/base/): journald-console.conf,
#             exit-on-failure.conf, exit-on-failure.service, restart-direct.conf
#   UNITS     directory of the pair's unit files (*.service, *.socket), copied byte for byte
#   --program PATH          an executable, linked as /bin/$(basename PATH); repeatable
#   --enable UNIT           a unit of UNITS to enable from its [Install] section; repeatable
#   --drop-in UNIT.d/FILE   UNITS/FILE installed as /etc/systemd/system/UNIT.d/FILE, UNIT
#                           one of UNITS (the spec's systemd.dropIns); repeatable
#   --exit-on-failure UNIT  a unit of UNITS whose failure for good ends the container with
#                           status 1 (BASE's drop-in and exit-on-failure.service); repeatable
#   --systemd-version V     SYSTEMD's version (e.g. 257.6): from 254 on, each such service
#                           also gets BASE's restart-direct.conf (required with
#                           --exit-on-failure)
#   --upstream UNIT         a unit of SYSTEMD's example/systemd/system to link into
#                           /etc/systemd/system; repeatable
#
# nixpkgs' systemd only searches /etc/systemd/system (and /run) for units; its own units sit
# in $out/example/systemd/system (pkgs/os-specific/linux/systemd/default.nix postInstall),
# so every unit PID 1 needs must be linked here. A missing one fails this build rather than
# leaving `docker stop` to hang until SIGKILL; so does a missing executable.
set -euo pipefail

die() {
  echo "systemd-root.sh: $*" >&2
  exit 1
}

usage() {
  echo "usage: systemd-root.sh OUT NAME SYSTEMD BASE UNITS [--program PATH] [--enable UNIT]" \
    "[--drop-in UNIT.d/FILE] [--exit-on-failure UNIT] [--systemd-version V] [--upstream UNIT]..." >&2
  exit 2
}

# Links each named unit of SYSTEMD's example/systemd/system into /etc/systemd/system;
# fails naming every one that is missing.
link_upstream_units() { # out systemd unit...
  local out=$1 upstream=$2/example/systemd/system unit
  shift 2
  local missing=()
  for unit in "$@"; do
    if [ -e "$upstream/$unit" ]; then
      ln -s "$upstream/$unit" "$out/etc/systemd/system/$unit"
    else
      missing+=("$unit")
    fi
  done
  [ ${#missing[@]} -eq 0 ] || die "not in $upstream: ${missing[*]}"
}

# Journald: its sockets and the service, enabled as upstream's own .wants/ links would
# (link_upstream_units has checked these names), its output to the console (BASE's
# drop-in); multi-user.target as default.target.
enable_journald() { # out base
  local etc=$1/etc/systemd/system unit
  mkdir -p "$etc/sockets.target.wants" "$etc/sysinit.target.wants"
  for unit in systemd-journald.socket systemd-journald-dev-log.socket; do
    ln -s "../$unit" "$etc/sockets.target.wants/$unit"
  done
  ln -s ../systemd-journald.service "$etc/sysinit.target.wants/systemd-journald.service"
  ln -s multi-user.target "$etc/default.target"
  cp "$2/journald-console.conf" "$1/etc/systemd/journald.conf.d/duet-console.conf"
}

# The pair's units as they are, enabled from their [Install] sections by systemd's own
# `systemctl --root`, as the stand-in builder's `systemctl enable` does: the links point
# at /etc/systemd/system/NAME, a path inside the image.
install_units() { # out systemd units-dir
  local out=$1 systemd=$2 units=$3 file unit found=0
  for file in "$units"/*.service "$units"/*.socket; do
    [ -e "$file" ] || continue
    cp "$file" "$out/etc/systemd/system/$(basename "$file")"
    found=1
  done
  [ $found = 1 ] || die "no units in $units"
  for unit in "${enable[@]}"; do
    [ -f "$out/etc/systemd/system/$unit" ] || die "--enable $unit: no $unit in $units"
  done
  [ ${#enable[@]} -eq 0 ] || "$systemd/bin/systemctl" --root="$out" --quiet enable "${enable[@]}"
}

# The owner's drop-ins (settings several units share, in one file of UNITS), each as
# UNIT.d/FILE next to the unit it changes.
install_drop_ins() { # out units-dir
  local etc=$1/etc/systemd/system units=$2 drop_in unit file
  for drop_in in "${drop_ins[@]}"; do
    [[ $drop_in =~ ^([^/]+)\.d/([^/]+\.conf)$ ]] || die "--drop-in $drop_in: not UNIT.d/FILE.conf"
    unit=${BASH_REMATCH[1]} file=${BASH_REMATCH[2]}
    [ -f "$etc/$unit" ] || die "--drop-in $drop_in: $unit is not one of the units"
    [ -f "$units/$file" ] || die "--drop-in $drop_in: no $file in $units"
    [ ! -e "$etc/$drop_in" ] || die "--drop-in $drop_in: given twice"
    mkdir -p "$etc/$unit.d"
    cp "$units/$file" "$etc/$drop_in"
  done
}

# For each unit whose failure for good must end the container: BASE's drop-in
# (OnFailure=exit-on-failure.service), for a service under systemd >= 254 also
# restart-direct.conf (so that restarts do not trigger OnFailure=), and, once, that service.
install_exit_on_failure() { # out base
  local etc=$1/etc/systemd/system base=$2 unit major
  [ ${#exit_on_failure[@]} -gt 0 ] || return 0
  [[ $systemd_version =~ ^[0-9]+ ]] || die "--exit-on-failure needs --systemd-version (got '$systemd_version')"
  major=${BASH_REMATCH[0]}
  for unit in "${exit_on_failure[@]}"; do
    [ -f "$etc/$unit" ] || die "--exit-on-failure $unit: not one of the units"
    mkdir -p "$etc/$unit.d"
    cp "$base/exit-on-failure.conf" "$etc/$unit.d/exit-on-failure.conf"
    if [[ $unit == *.service ]] && [ "$major" -ge 254 ]; then
      cp "$base/restart-direct.conf" "$etc/$unit.d/restart-direct.conf"
    fi
  done
  cp "$base/exit-on-failure.service" "$etc/exit-on-failure.service"
}

link_programs() { # out systemd
  local out=$1 systemd=$2 tool program
  ln -s "$systemd/lib/systemd/systemd" "$out/sbin/init"
  for tool in "$systemd"/bin/*; do
    ln -s "$tool" "$out/bin/$(basename "$tool")"
  done
  for program in "${programs[@]}"; do
    if [ ! -f "$program" ] || [ ! -x "$program" ]; then die "no executable $program"; fi
    ln -s "$program" "$out/bin/$(basename "$program")"
  done
}

write_etc() { # out name
  local out=$1 name=$2
  printf 'NAME=%s\nID=%s\nPRETTY_NAME="%s (systemd)"\n' "$name" "$name" "$name" > "$out/etc/os-release"
  # journald chowns journal files to systemd-journal (gid 190 as in NixOS' ids.nix).
  printf '%s\n' 'root:x:0:0:root:/root:/sbin/nologin' \
    'nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin' > "$out/etc/passwd"
  printf '%s\n' 'root:x:0:' 'systemd-journal:x:190:' 'nogroup:x:65534:' > "$out/etc/group"
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$out/etc/nsswitch.conf"
  # Empty: systemd makes a fresh machine id at every container start (machine-id(5)).
  : > "$out/etc/machine-id"
}

main() {
  [ $# -ge 5 ] || usage
  local out=$1 name=$2 systemd=$3 base=$4 units=$5
  # A new directory, as a build's $out is: never a tree that exists (such as /).
  if [ -z "$out" ] || [ -e "$out" ]; then
    echo "systemd-root.sh: OUT must be a directory that does not exist yet, got '$out'" >&2
    exit 1
  fi
  shift 5
  programs=() enable=() drop_ins=() exit_on_failure=() systemd_version=
  local upstream=()
  while [ $# -gt 0 ]; do
    [ $# -ge 2 ] || usage
    case $1 in
      --program) programs+=("$2") ;;
      --enable) enable+=("$2") ;;
      --drop-in) drop_ins+=("$2") ;;
      --exit-on-failure) exit_on_failure+=("$2") ;;
      --systemd-version) systemd_version=$2 ;;
      --upstream) upstream+=("$2") ;;
      *) usage ;;
    esac
    shift 2
  done
  [ ${#programs[@]} -gt 0 ] || die "no --program given"
  mkdir -p "$out/etc/systemd/system" "$out/etc/systemd/journald.conf.d" "$out/bin" "$out/sbin" \
    "$out/run/lock" "$out/tmp" "$out/var/lib" "$out/var/log" "$out/var/tmp" "$out/root"
  ln -s ../run "$out/var/run"
  link_upstream_units "$out" "$systemd" "${upstream[@]}"
  enable_journald "$out" "$base"
  install_units "$out" "$systemd" "$units"
  install_drop_ins "$out" "$units"
  install_exit_on_failure "$out" "$base"
  link_programs "$out" "$systemd"
  write_etc "$out" "$name"
}

main "$@"
