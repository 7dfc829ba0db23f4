# shellcheck shell=bash
# Builds the root filesystem of the duet-systemd image (run by nix/images/systemd.nix in a
# runCommand; plain bash + coreutils so tests/nix/test_image_roots.sh runs it without Nix).
#
# usage: bash systemd-root.sh OUT SYSTEMD DUET UNITS UPSTREAM_UNIT...
#   OUT       directory to create
#   SYSTEMD   systemd package: lib/systemd/systemd, bin/ (systemctl), example/systemd/system/
#   DUET      crate package: bin/duet-server, bin/duet-client
#   UNITS     directory with the files of units/ that go into the image, copied byte for byte
#   UPSTREAM_UNIT...  units of SYSTEMD's example/systemd/system to link into /etc/systemd/system
#
# nixpkgs' systemd only searches /etc/systemd/system (and /run) for units; its own units sit
# in $out/example/systemd/system (pkgs/os-specific/linux/systemd/default.nix postInstall),
# so every unit PID 1 needs must be linked here. A missing one fails this build rather than
# leaving `docker stop` to hang until SIGKILL.
set -euo pipefail

die() {
  echo "systemd-root.sh: $*" >&2
  exit 1
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
# (link_upstream_units has checked these names); multi-user.target as default.target.
enable_journald() { # out
  local etc=$1/etc/systemd/system unit
  mkdir -p "$etc/sockets.target.wants" "$etc/sysinit.target.wants"
  for unit in systemd-journald.socket systemd-journald-dev-log.socket; do
    ln -s "../$unit" "$etc/sockets.target.wants/$unit"
  done
  ln -s ../systemd-journald.service "$etc/sysinit.target.wants/systemd-journald.service"
  ln -s multi-user.target "$etc/default.target"
}

# duet's units as they are in units/, enabled from their [Install] sections by systemd's
# own `systemctl --root`, as the stand-in builder's `systemctl enable` does: the links
# point at /etc/systemd/system/NAME, a path inside the image.
install_duet_units() { # out systemd units-dir
  local out=$1 systemd=$2 units=$3 file
  local names=()
  for file in "$units"/*.service "$units"/*.socket; do
    [ -e "$file" ] || continue
    cp "$file" "$out/etc/systemd/system/$(basename "$file")"
    names+=("$(basename "$file")")
  done
  [ ${#names[@]} -gt 0 ] || die "no units in $units"
  "$systemd/bin/systemctl" --root="$out" --quiet enable "${names[@]}"
  cp "$units/journald-console.conf" "$out/etc/systemd/journald.conf.d/duet-console.conf"
}

link_programs() { # out systemd duet
  local out=$1 systemd=$2 duet=$3 tool
  ln -s "$systemd/lib/systemd/systemd" "$out/sbin/init"
  for tool in "$systemd"/bin/*; do
    ln -s "$tool" "$out/bin/$(basename "$tool")"
  done
  ln -s "$duet/bin/duet-server" "$out/bin/duet-server"
  ln -s "$duet/bin/duet-client" "$out/bin/duet-client"
}

write_etc() { # out
  local out=$1
  cat > "$out/etc/os-release" <<'EOF'
NAME=duet
ID=duet
PRETTY_NAME="duet (systemd)"
EOF
  # journald chowns journal files to systemd-journal (gid 190 as in NixOS' ids.nix).
  cat > "$out/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/var/empty:/sbin/nologin
EOF
  cat > "$out/etc/group" <<'EOF'
root:x:0:
systemd-journal:x:190:
nogroup:x:65534:
EOF
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' > "$out/etc/nsswitch.conf"
  # Empty: systemd makes a fresh machine id at every container start (machine-id(5)).
  : > "$out/etc/machine-id"
}

main() {
  [ $# -ge 4 ] || { echo "usage: systemd-root.sh OUT SYSTEMD DUET UNITS UPSTREAM_UNIT..." >&2; exit 2; }
  local out=$1 systemd=$2 duet=$3 units=$4
  shift 4
  mkdir -p "$out/etc/systemd/system" "$out/etc/systemd/journald.conf.d" "$out/bin" "$out/sbin" \
    "$out/run/lock" "$out/tmp" "$out/var/lib" "$out/var/log" "$out/var/tmp" "$out/root"
  ln -s ../run "$out/var/run"
  link_upstream_units "$out" "$systemd" "$@"
  enable_journald "$out"
  install_duet_units "$out" "$systemd" "$units"
  link_programs "$out" "$systemd" "$duet"
  write_etc "$out"
}

main "$@"
