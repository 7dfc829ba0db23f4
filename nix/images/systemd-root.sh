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

[ $# -ge 4 ] || { echo "usage: systemd-root.sh OUT SYSTEMD DUET UNITS UPSTREAM_UNIT..." >&2; exit 2; }
out=$1 systemd=$2 duet=$3 units=$4
shift 4
upstream=$systemd/example/systemd/system
etc=$out/etc/systemd/system

mkdir -p "$etc" "$out/etc/systemd/journald.conf.d" "$out/bin" "$out/sbin" \
  "$out/run/lock" "$out/tmp" "$out/var/lib" "$out/var/log" "$out/var/tmp" "$out/root"

missing=()
for unit in "$@"; do
  if [ -e "$upstream/$unit" ]; then
    ln -s "$upstream/$unit" "$etc/$unit"
  else
    missing+=("$unit")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "systemd-root.sh: not in $upstream: ${missing[*]}" >&2
  exit 1
fi

# Journald: its sockets and the service, enabled as upstream's own .wants/ links would.
# (The links below use names this script just checked.)
mkdir -p "$etc/sockets.target.wants" "$etc/sysinit.target.wants"
for unit in systemd-journald.socket systemd-journald-dev-log.socket; do
  ln -s "../$unit" "$etc/sockets.target.wants/$unit"
done
ln -s ../systemd-journald.service "$etc/sysinit.target.wants/systemd-journald.service"
ln -s multi-user.target "$etc/default.target"

# duet's units as they are in units/, enabled from their [Install] sections by systemd's
# own `systemctl --root`, as the stand-in builder's `systemctl enable` does: the links
# point at /etc/systemd/system/NAME, a path inside the image.
names=()
for file in "$units"/*.service "$units"/*.socket; do
  [ -e "$file" ] || continue
  cp "$file" "$etc/$(basename "$file")"
  names+=("$(basename "$file")")
done
[ ${#names[@]} -gt 0 ] || { echo "systemd-root.sh: no units in $units" >&2; exit 1; }
"$systemd/bin/systemctl" --root="$out" --quiet enable "${names[@]}"
cp "$units/journald-console.conf" "$out/etc/systemd/journald.conf.d/duet-console.conf"

ln -s "$systemd/lib/systemd/systemd" "$out/sbin/init"
for tool in "$systemd"/bin/*; do
  ln -s "$tool" "$out/bin/$(basename "$tool")"
done
ln -s "$duet/bin/duet-server" "$out/bin/duet-server"
ln -s "$duet/bin/duet-client" "$out/bin/duet-client"
ln -s ../run "$out/var/run"

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
