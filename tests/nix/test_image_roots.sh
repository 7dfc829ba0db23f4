#!/usr/bin/env bash
# Runs the image root builders of nix/images/ (the same bash the Nix runCommands run) here,
# without Nix, against stand-in package trees, and checks the trees they make:
#  - systemd-root.sh with a "systemd" whose example/systemd/system is this host's real
#    systemd unit directory (Debian's, not nixpkgs' version), so every unit name listed in
#    nix/images/systemd-units.nix is checked against a real systemd, and this host's real
#    systemctl enables duet's units (as nixpkgs' systemctl does in the Nix build); a missing
#    unit must fail the build;
#  - supervisord-root.sh, single-root.sh and sysusers-passwd.sh with units/ as they are.
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
images=$repo/nix/images
units=$repo/units

# shellcheck source=tests/ci/lib.sh
. "$repo/tests/ci/lib.sh"
host_units=/usr/lib/systemd/system
[ -f "$host_units/halt.target" ] || fail "no systemd units in $host_units (install systemd)"
need nix-instantiate systemctl
host_systemctl=$(command -v systemctl)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t upstream < <(nix-instantiate --eval --strict --json "$images/systemd-units.nix" |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
[ ${#upstream[@]} -gt 10 ] || fail "systemd-units.nix lists too few units"

# Stand-in package trees.
sd=$tmp/systemd
mkdir -p "$sd/lib/systemd" "$sd/bin" "$sd/example/systemd"
ln -s "$host_units" "$sd/example/systemd/system"
printf '#!/bin/sh\n' > "$sd/lib/systemd/systemd"
ln -s "$host_systemctl" "$sd/bin/systemctl"
printf '#!/bin/sh\n' > "$sd/bin/journalctl"
duet=$tmp/duet
mkdir -p "$duet/bin"
for b in duet-server duet-client; do printf '#!/bin/sh\n' > "$duet/bin/$b"; chmod +x "$duet/bin/$b"; done
sup=$tmp/supervisor
mkdir -p "$sup/bin"
for b in supervisord supervisorctl; do printf '#!/bin/sh\n' > "$sup/bin/$b"; chmod +x "$sup/bin/$b"; done
# What nix/images/systemd.nix hands over: exactly these files of units/.
sd_units=$tmp/units
mkdir "$sd_units"
cp "$units"/{server.service,server.socket,client.service,journald-console.conf} "$sd_units/"

# --- systemd image root ---
out=$tmp/systemd-root
bash "$images/systemd-root.sh" "$out" "$sd" "$duet" "$sd_units" "${upstream[@]}" \
  || fail "systemd-root.sh failed with all units present"
bash "$images/sysusers-passwd.sh" "$units/sysusers.conf" "$out/etc" || fail "sysusers-passwd.sh failed"
etc=$out/etc/systemd/system
for u in "${upstream[@]}"; do
  if [ ! -L "$etc/$u" ] || [ ! -e "$etc/$u" ]; then fail "systemd root: $u is not a working link"; fi
done
for f in server.service server.socket client.service; do
  cmp -s "$units/$f" "$etc/$f" || fail "systemd root: $f differs from units/$f"
done
cmp -s "$units/journald-console.conf" "$out/etc/systemd/journald.conf.d/duet-console.conf" \
  || fail "systemd root: journald drop-in differs from units/journald-console.conf"
expect_link() { # path target
  [ "$(readlink "$1")" = "$2" ] || fail "${1#"$tmp"/} -> $(readlink "$1" || echo nothing), expected $2"
}
# From the [Install] sections of units/ (WantedBy=), made by `systemctl --root enable`.
expect_link "$etc/multi-user.target.wants/server.service" /etc/systemd/system/server.service
expect_link "$etc/multi-user.target.wants/client.service" /etc/systemd/system/client.service
expect_link "$etc/sockets.target.wants/server.socket" /etc/systemd/system/server.socket
expect_link "$etc/sockets.target.wants/systemd-journald.socket" ../systemd-journald.socket
expect_link "$etc/sysinit.target.wants/systemd-journald.service" ../systemd-journald.service
expect_link "$etc/default.target" multi-user.target
expect_link "$out/sbin/init" "$sd/lib/systemd/systemd"
expect_link "$out/bin/systemctl" "$sd/bin/systemctl"
expect_link "$out/bin/duet-server" "$duet/bin/duet-server"
expect_link "$out/bin/duet-client" "$duet/bin/duet-client"
for d in run/lock tmp var/tmp var/lib var/log root; do [ -d "$out/$d" ] || fail "systemd root: no /$d"; done
if [ ! -f "$out/etc/machine-id" ] || [ -s "$out/etc/machine-id" ]; then fail "systemd root: /etc/machine-id missing or not empty"; fi
grep -q '^ID=duet$' "$out/etc/os-release" || fail "systemd root: /etc/os-release"
grep -qx 'duet-server:x:801:801:duet HTTP server:/:/sbin/nologin' "$out/etc/passwd" || fail "passwd: duet-server"
grep -qx 'duet-client:x:802:' "$out/etc/group" || fail "group: duet-client"
grep -q '^systemd-journal:x:190:$' "$out/etc/group" || fail "group: systemd-journal"
cmp -s "$units/sysusers.conf" "$out/etc/sysusers.d/duet.conf" || fail "sysusers.d/duet.conf differs"

# A unit missing from systemd fails the build and names the unit.
mkdir -p "$tmp/sd-missing/example/systemd/system"
for u in "${upstream[@]}"; do
  [ "$u" = systemd-halt.service ] || ln -s "$host_units/$u" "$tmp/sd-missing/example/systemd/system/$u"
done
if err=$(bash "$images/systemd-root.sh" "$tmp/missing-root" "$tmp/sd-missing" "$duet" "$sd_units" "${upstream[@]}" 2>&1); then
  fail "systemd-root.sh succeeded without systemd-halt.service"
fi
grep -q 'systemd-halt.service' <<<"$err" || fail "missing-unit error does not name the unit: $err"

# --- supervisord image root ---
out=$tmp/supervisord-root
bash "$images/supervisord-root.sh" "$out" "$sup" "$duet" "$units/supervisord.conf" || fail "supervisord-root.sh failed"
bash "$images/sysusers-passwd.sh" "$units/sysusers.conf" "$out/etc" || fail "sysusers-passwd.sh failed (supervisord)"
cmp -s "$units/supervisord.conf" "$out/etc/supervisord.conf" || fail "supervisord root: conf differs"
expect_link "$out/bin/supervisord" "$sup/bin/supervisord"
expect_link "$out/bin/supervisorctl" "$sup/bin/supervisorctl"
expect_link "$out/bin/duet-server" "$duet/bin/duet-server"
for d in run tmp var/log; do [ -d "$out/$d" ] || fail "supervisord root: no /$d"; done
# supervisord.conf runs the programs as these users: they must exist.
while read -r user; do
  grep -q "^$user:" "$out/etc/passwd" || fail "supervisord root: user $user (supervisord.conf) not in passwd"
done < <(sed -n 's/^user=//p' "$units/supervisord.conf")

# --- single-binary image roots ---
check_single_root() { # name program...
  local name=$1 out=$tmp/$1-root program
  shift
  bash "$images/single-root.sh" "$out" "${@/#/$duet/bin/}" || fail "single-root.sh $name failed"
  for program in "$@"; do expect_link "$out/bin/$program" "$duet/bin/$program"; done
  [ "$(find "$out/bin" -mindepth 1 | wc -l)" -eq $# ] || fail "$name root: /bin holds more than $*"
  [ "$(find "$out" -mindepth 1 | wc -l)" -eq $(($# + 4)) ] || fail "$name root holds more than /bin/* and passwd/group"
  grep -q '^nobody:x:65534:65534:' "$out/etc/passwd" || fail "$name root: no 65534 user"
}
# duet-server carries duet-client as its health-check probe; duet-client only itself.
check_single_root server duet-server duet-client
check_single_root client duet-client
if bash "$images/single-root.sh" "$tmp/bad-root" "$tmp/no-such-program" 2>/dev/null; then
  fail "single-root.sh accepted a program that does not exist"
fi

# sysusers-passwd.sh refuses lines it does not understand.
printf 'g duet 803\n' > "$tmp/bad-sysusers.conf"
mkdir -p "$tmp/bad-etc"; : > "$tmp/bad-etc/passwd"; : > "$tmp/bad-etc/group"
if bash "$images/sysusers-passwd.sh" "$tmp/bad-sysusers.conf" "$tmp/bad-etc" 2>/dev/null; then
  fail "sysusers-passwd.sh accepted an unsupported line"
fi

echo "image roots: ok (${#upstream[@]} upstream units found in $host_units)"
