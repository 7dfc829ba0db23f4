#!/usr/bin/env bash
# Runs the image root builders of nix/images/ (the same bash the Nix runCommands run) here,
# without Nix, against stand-in package trees, for duet's spec (units/pair.json) and the
# second pair's (tests/second-pair/pair.json), with the arguments nix/images/default.nix
# derives from the spec (read here through nix/lib/spec.nix, as Nix reads it), and checks
# the trees they make:
#  - the stand-in packages have nixpkgs' output layout for what the scripts use
#    (tests/nix/stub-nixpkgs/layouts.nix): every link a root makes into a package must
#    resolve there, so a path nixpkgs does not have fails here;
#  - systemd-root.sh with a "systemd" whose example/systemd/system is this host's real
#    systemd unit directory (Debian's, not nixpkgs' version), so every unit name listed in
#    nix/images/systemd-units.nix is checked against a real systemd, and this host's real
#    systemctl enables the pair's units (as nixpkgs' systemctl does in the Nix build);
#    a missing unit or executable must fail the build, naming it;
#  - supervisord-root.sh, single-root.sh and sysusers-passwd.sh likewise.
# shellcheck disable=SC2154 # the spec_* variables come from spec_vars, through eval
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
images=$repo/nix/images
base=$repo/units/base

# shellcheck source=tests/ci/lib.sh
. "$repo/tests/ci/lib.sh"
host_units=/usr/lib/systemd/system
[ -f "$host_units/halt.target" ] || fail "no systemd units in $host_units (install systemd)"
need nix-instantiate systemctl python3
host_systemctl=$(command -v systemctl)

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

mapfile -t upstream < <(nix-instantiate --eval --strict --json "$images/systemd-units.nix" |
  python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
[ ${#upstream[@]} -gt 10 ] || fail "systemd-units.nix lists too few units"
upstream_args=()
for u in "${upstream[@]}"; do upstream_args+=(--upstream "$u"); done

# What the image builders take from a spec, as shell assignments: nix/lib/spec.nix's
# values (paths as strings, so nothing is copied to a store).
spec_vars() { # spec
  nix-instantiate --eval --strict --json -E "
    let s = import $repo/nix/lib/spec.nix $1; in {
      inherit (s) name server client unitFiles enable exitOnFailure dropIns singlePrograms;
      unitsDir = toString s.unitsDir;
      programsFile = toString s.programsFile;
      usersFile = if s.usersFile == null then \"\" else toString s.usersFile;
    }" | python3 -c '
import json, shlex, sys
s = json.load(sys.stdin)
for key in ("name", "server", "client", "unitsDir", "programsFile", "usersFile"):
    print(f"spec_{key}={shlex.quote(s[key])}")
for key in ("unitFiles", "enable", "exitOnFailure"):
    print(f"spec_{key}=(" + " ".join(shlex.quote(v) for v in s[key]) + ")")
print("spec_dropInFiles=(" + " ".join(shlex.quote(f) for f in s["dropIns"]) + ")")
print("spec_dropIns=(" + " ".join(shlex.quote(f"{u}.d/{f}") for f, units in s["dropIns"].items() for u in units) + ")")
for key in ("server", "client"):
    print(f"spec_single_{key}=(" + " ".join(shlex.quote(v) for v in s["singlePrograms"][key]) + ")")
'
}

expect_link() { # path target
  [ "$(readlink "$1")" = "$2" ] || fail "${1#"$tmp"/} -> $(readlink "$1" || echo nothing), expected $2"
}

# A stand-in tree of PACKAGE with the layout of tests/nix/stub-nixpkgs/layouts.nix: each
# file an executable, each directory empty, except what must be real here: systemd's
# bin/systemctl is this host's (it enables the units) and its example/systemd/system this
# host's unit directory (the unit names are checked against it). SKIP: a path left out.
make_tree() { # dir package [skip]
  local dir=$1 package=$2 skip=${3:-} kind path
  mkdir -p "$dir"
  while read -r kind path; do
    [ "$path" != "$skip" ] || continue
    mkdir -p "$(dirname "$dir/$path")"
    case $package:$kind:$path in
      systemd:f:bin/systemctl) ln -s "$host_systemctl" "$dir/$path" ;;
      systemd:d:example/systemd/system) ln -s "$host_units" "$dir/$path" ;;
      *:f:*) printf '#!/bin/sh\n' > "$dir/$path"; chmod +x "$dir/$path" ;;
      *:d:*) mkdir -p "$dir/$path" ;;
    esac
  done < <(python3 -c '
import json, sys
layout = json.loads(sys.argv[1])[sys.argv[2]]
for f in layout["files"]: print("f", f)
for d in layout["directories"]: print("d", d)' "$layouts" "$package")
}

# Stand-in package trees: nixpkgs' systemd and python with supervisor, by their layouts.
make_packages() {
  stub_systemd_version=$(nix-instantiate --eval --strict -E \
    "(import $repo/tests/nix/stub-nixpkgs/layouts.nix).systemd.version" 2>/dev/null | tr -d '"') \
    || fail "cannot read systemd.version of tests/nix/stub-nixpkgs/layouts.nix"
  layouts=$(nix-instantiate --eval --strict --json "$repo/tests/nix/stub-nixpkgs/layouts.nix") \
    || fail "cannot read tests/nix/stub-nixpkgs/layouts.nix"
  sd=$tmp/systemd
  python=$tmp/python
  make_tree "$sd" systemd
  make_tree "$python" python3-with-supervisor
  if [ ! -L "$sd/bin/systemctl" ] || [ ! -L "$sd/example/systemd/system" ]; then
    fail "layouts.nix: systemd lacks bin/systemctl or example/systemd/system"
  fi
}

# Every link ROOT makes into a stand-in package must resolve: the package has that path.
check_links_resolve() { # label root
  local link target
  while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    case $target in "$tmp"/*) ;; *) continue ;; esac
    [ -e "$target" ] || fail "$1: ${link#"$2"} -> ${target#"$tmp"/}: no such path in the package (tests/nix/stub-nixpkgs/layouts.nix)"
  done < <(find "$2" -type l -print0)
}

check_systemd_root() { # label pkg units-dir
  local label=$1 pkg=$2 units=$3 out=$tmp/$1-systemd-root u f target
  local args=("$spec_name" "$sd" "$base" "$units" --program "$pkg/bin/$spec_server" --program "$pkg/bin/$spec_client")
  for u in "${spec_enable[@]}"; do args+=(--enable "$u"); done
  for u in "${spec_dropIns[@]}"; do args+=(--drop-in "$u"); done
  for u in "${spec_exitOnFailure[@]}"; do args+=(--exit-on-failure "$u"); done
  if [ ${#spec_exitOnFailure[@]} -gt 0 ]; then
    ! bash "$images/systemd-root.sh" "$tmp/$label-no-version" "${args[@]}" "${upstream_args[@]}" 2>/dev/null \
      || fail "$label: systemd-root.sh accepted --exit-on-failure without --systemd-version"
    # systemd 252 does not know RestartMode= (restart-direct.conf): it gets none.
    bash "$images/systemd-root.sh" "$tmp/$label-252" "${args[@]}" --systemd-version 252.39 "${upstream_args[@]}" \
      || fail "$label: systemd-root.sh failed for systemd 252"
    [ -z "$(find "$tmp/$label-252" -name restart-direct.conf)" ] \
      || fail "$label systemd root: restart-direct.conf for systemd 252"
  fi
  # The version of nixpkgs' systemd that tests/nix/stub-nixpkgs/pkgs.nix names.
  bash "$images/systemd-root.sh" "$out" "${args[@]}" --systemd-version "$stub_systemd_version" "${upstream_args[@]}" \
    || fail "$label: systemd-root.sh failed with all units present"
  [ -z "$spec_usersFile" ] || bash "$images/sysusers-passwd.sh" "$spec_usersFile" "$out/etc" "$spec_name" \
    || fail "$label: sysusers-passwd.sh failed"
  local etc=$out/etc/systemd/system
  for u in "${upstream[@]}"; do
    if [ ! -L "$etc/$u" ] || [ ! -e "$etc/$u" ]; then fail "$label systemd root: $u is not a working link"; fi
  done
  for f in "${spec_unitFiles[@]}"; do
    cmp -s "$spec_unitsDir/$f" "$etc/$f" || fail "$label systemd root: $f differs from the spec's"
  done
  for f in "${spec_dropIns[@]}"; do
    cmp -s "$spec_unitsDir/${f#*.d/}" "$etc/$f" || fail "$label systemd root: drop-in $f differs from the spec's ${f#*.d/}"
  done
  # No other drop-in than the spec's and the library's exit-on-failure ones.
  while read -r f; do
    case " ${spec_dropIns[*]} " in *" ${f#"$etc"/} "*) continue ;; esac
    case ${f##*/} in exit-on-failure.conf | restart-direct.conf) continue ;; esac
    fail "$label systemd root: a drop-in the spec does not name: ${f#"$etc"/}"
  done < <(find "$etc" -path '*.d/*' -type f)
  cmp -s "$base/journald-console.conf" "$out/etc/systemd/journald.conf.d/duet-console.conf" \
    || fail "$label systemd root: journald drop-in differs from units/base/journald-console.conf"
  # From the [Install] sections (WantedBy=), made by `systemctl --root enable`.
  for u in "${spec_enable[@]}"; do
    while read -r target; do
      expect_link "$etc/$target.wants/$u" "/etc/systemd/system/$u"
    done < <(sed -n 's/^WantedBy=//p' "$spec_unitsDir/$u" | tr ' ' '\n')
  done
  for u in "${spec_exitOnFailure[@]}"; do
    cmp -s "$base/exit-on-failure.conf" "$etc/$u.d/exit-on-failure.conf" \
      || fail "$label systemd root: no exit-on-failure drop-in for $u"
    case $u in
      *.service) cmp -s "$base/restart-direct.conf" "$etc/$u.d/restart-direct.conf" \
        || fail "$label systemd root: no restart-direct drop-in for $u (systemd $stub_systemd_version)" ;;
    esac
  done
  if [ ${#spec_exitOnFailure[@]} -gt 0 ]; then
    cmp -s "$base/exit-on-failure.service" "$etc/exit-on-failure.service" \
      || fail "$label systemd root: no exit-on-failure.service"
  fi
  expect_link "$etc/sockets.target.wants/systemd-journald.socket" ../systemd-journald.socket
  expect_link "$etc/sysinit.target.wants/systemd-journald.service" ../systemd-journald.service
  expect_link "$etc/default.target" multi-user.target
  expect_link "$out/sbin/init" "$sd/lib/systemd/systemd"
  expect_link "$out/bin/systemctl" "$sd/bin/systemctl"
  expect_link "$out/bin/$spec_server" "$pkg/bin/$spec_server"
  expect_link "$out/bin/$spec_client" "$pkg/bin/$spec_client"
  for d in run/lock tmp var/tmp var/lib var/log root; do [ -d "$out/$d" ] || fail "$label systemd root: no /$d"; done
  if [ ! -f "$out/etc/machine-id" ] || [ -s "$out/etc/machine-id" ]; then fail "$label systemd root: /etc/machine-id missing or not empty"; fi
  grep -qx "ID=$spec_name" "$out/etc/os-release" || fail "$label systemd root: /etc/os-release"
  grep -q '^systemd-journal:x:190:$' "$out/etc/group" || fail "$label group: systemd-journal"
  if [ -n "$spec_usersFile" ]; then
    cmp -s "$spec_usersFile" "$out/etc/sysusers.d/$spec_name.conf" || fail "$label: sysusers.d/$spec_name.conf differs"
    # The units run as these users: they must exist.
    while read -r u; do
      grep -q "^$u:" "$out/etc/passwd" || fail "$label systemd root: user $u (User= of a unit) not in passwd"
    done < <(sed -n 's/^User=//p' "${spec_unitFiles[@]/#/$spec_unitsDir/}")
  fi
  systemd_root=$out
}

check_supervisord_root() { # label pkg
  local label=$1 pkg=$2 out=$tmp/$1-supervisord-root script user
  bash "$images/supervisord-root.sh" "$out" "$python" "$base" "$spec_programsFile" \
    --program "$pkg/bin/$spec_server" --program "$pkg/bin/$spec_client" || fail "$label: supervisord-root.sh failed"
  [ -z "$spec_usersFile" ] || bash "$images/sysusers-passwd.sh" "$spec_usersFile" "$out/etc" "$spec_name" \
    || fail "$label: sysusers-passwd.sh failed (supervisord)"
  cat "$base/supervisord.conf" "$spec_programsFile" | cmp -s - "$out/etc/supervisord.conf" \
    || fail "$label supervisord root: /etc/supervisord.conf is not units/base/supervisord.conf + the programs file"
  for script in supervisord:supervisord-pid1.py supervisord-exit-on-fatal:exit-on-fatal.py; do
    local file=$out/bin/${script%%:*}
    if [ ! -f "$file" ] || [ -L "$file" ] || [ ! -x "$file" ]; then
      fail "$label supervisord root: /bin/${script%%:*} is not an executable file"
    fi
    [ "$(head -1 "$file")" = "#!$python/bin/python3" ] || fail "$label supervisord root: /bin/${script%%:*} starts $(head -1 "$file")"
    tail -n +2 "$base/${script#*:}" | cmp -s - <(tail -n +2 "$file") || fail "$label supervisord root: /bin/${script%%:*} differs from units/base/${script#*:}"
  done
  expect_link "$out/bin/supervisorctl" "$python/bin/supervisorctl"
  expect_link "$out/bin/$spec_server" "$pkg/bin/$spec_server"
  expect_link "$out/bin/$spec_client" "$pkg/bin/$spec_client"
  for d in run tmp var/log; do [ -d "$out/$d" ] || fail "$label supervisord root: no /$d"; done
  # The program sections run as these users: they must exist.
  while read -r user; do
    grep -q "^$user:" "$out/etc/passwd" || fail "$label supervisord root: user $user (programs file) not in passwd"
  done < <(sed -n 's/^user=//p' "$spec_programsFile")
}

check_single_root() { # label pkg key program...
  local label=$1 pkg=$2 key=$3 out=$tmp/$1-$3-root program
  shift 3
  bash "$images/single-root.sh" "$out" "${@/#/$pkg/bin/}" || fail "$label: single-root.sh $key failed"
  for program in "$@"; do expect_link "$out/bin/$program" "$pkg/bin/$program"; done
  [ "$(find "$out/bin" -mindepth 1 | wc -l)" -eq $# ] || fail "$label $key root: /bin holds more than $*"
  [ "$(find "$out" -mindepth 1 | wc -l)" -eq $(($# + 4)) ] || fail "$label $key root holds more than /bin/* and passwd/group"
  grep -q '^nobody:x:65534:65534:' "$out/etc/passwd" || fail "$label $key root: no 65534 user"
}

check_pair() { # label spec
  local label=$1 pkg=$tmp/$1-package units=$tmp/$1-units f
  eval "$(spec_vars "$2")" || fail "$label: cannot read $2 through nix/lib/spec.nix"
  mkdir -p "$pkg/bin" "$units"
  for f in "$spec_server" "$spec_client"; do printf '#!/bin/sh\n' > "$pkg/bin/$f"; chmod +x "$pkg/bin/$f"; done
  # What nix/lib hands over: the spec's unit files and drop-ins alone.
  for f in "${spec_unitFiles[@]}" "${spec_dropInFiles[@]}"; do cp "$spec_unitsDir/$f" "$units/"; done
  check_systemd_root "$label" "$pkg" "$units"
  check_supervisord_root "$label" "$pkg"
  check_single_root "$label" "$pkg" server "${spec_single_server[@]}"
  check_single_root "$label" "$pkg" client "${spec_single_client[@]}"
  check_links_resolve "$label systemd root" "$tmp/$label-systemd-root"
  check_links_resolve "$label supervisord root" "$tmp/$label-supervisord-root"

  # A missing executable fails each build and names it.
  local err absent=$tmp/$1-absent/bin/$spec_server
  if err=$(bash "$images/systemd-root.sh" "$tmp/$label-x1" "$spec_name" "$sd" "$base" "$units" \
    --program "$absent" "${upstream_args[@]}" 2>&1); then
    fail "$label: systemd-root.sh succeeded without $absent"
  fi
  grep -q "no executable $absent" <<<"$err" || fail "$label: systemd-root.sh's error does not name $absent: $err"
  if err=$(bash "$images/supervisord-root.sh" "$tmp/$label-x2" "$python" "$base" "$spec_programsFile" \
    --program "$absent" 2>&1); then
    fail "$label: supervisord-root.sh succeeded without $absent"
  fi
  grep -q "no executable $absent" <<<"$err" || fail "$label: supervisord-root.sh's error does not name $absent: $err"
  echo "image roots of $label ($2): ok"
}

main() {
  make_packages
  check_pair duet "$repo/units/pair.json"
  # duet's own expectations, written out.
  local etc=$systemd_root/etc/systemd/system
  expect_link "$etc/sockets.target.wants/server.socket" /etc/systemd/system/server.socket
  expect_link "$etc/multi-user.target.wants/server.service" /etc/systemd/system/server.service
  grep -qx 'duet-server:x:801:801:duet HTTP server:/:/sbin/nologin' "$systemd_root/etc/passwd" || fail "passwd: duet-server"
  grep -qx 'duet-client:x:802:' "$systemd_root/etc/group" || fail "group: duet-client"
  [ "${spec_single_server[*]}" = "duet-server duet-client" ] || fail "duet-server's image carries ${spec_single_server[*]}"
  for u in server.service client.service; do
    cmp -s "$repo/units/sandbox.conf" "$etc/$u.d/sandbox.conf" || fail "$u has no sandbox drop-in (units/sandbox.conf)"
  done
  check_pair second-pair "$repo/tests/second-pair/pair.json"
  [ ${#spec_dropIns[@]} -eq 0 ] || fail "the second pair names drop-ins: ${spec_dropIns[*]}"

  # A unit missing from systemd fails the build and names the unit.
  mkdir -p "$tmp/sd-missing/example/systemd/system" "$tmp/sd-missing/bin"
  for u in "${upstream[@]}"; do
    [ "$u" = systemd-halt.service ] || ln -s "$host_units/$u" "$tmp/sd-missing/example/systemd/system/$u"
  done
  local err
  if err=$(bash "$images/systemd-root.sh" "$tmp/missing-root" duet "$tmp/sd-missing" "$base" "$tmp/duet-units" \
    --program "$tmp/duet-package/bin/duet-server" "${upstream_args[@]}" 2>&1); then
    fail "systemd-root.sh succeeded without systemd-halt.service"
  fi
  grep -q 'systemd-halt.service' <<<"$err" || fail "missing-unit error does not name the unit: $err"

  # A drop-in for a unit that is not one of the pair's, or whose file is not there, fails
  # the build and names it.
  local bad
  for bad in absent.service.d/sandbox.conf server.service.d/absent.conf server.service.d/../sandbox.conf; do
    if err=$(bash "$images/systemd-root.sh" "$tmp/drop-in-root" duet "$sd" "$base" "$tmp/duet-units" \
      --program "$tmp/duet-package/bin/duet-server" --drop-in "$bad" "${upstream_args[@]}" 2>&1); then
      fail "systemd-root.sh accepted --drop-in $bad"
    fi
    grep -q -- "--drop-in $bad" <<<"$err" || fail "the --drop-in error does not name $bad: $err"
    rm -rf "$tmp/drop-in-root"
  done

  # A systemd whose PID 1 is not where nixpkgs puts it: the root's /sbin/init dangles, and
  # the link check says so.
  make_tree "$tmp/sd-no-pid1" systemd lib/systemd/systemd
  bash "$images/systemd-root.sh" "$tmp/no-pid1-root" duet "$tmp/sd-no-pid1" "$base" "$tmp/duet-units" \
    --program "$tmp/duet-package/bin/duet-server" "${upstream_args[@]}" || fail "systemd-root.sh failed (no-pid1 tree)"
  if err=$( (check_links_resolve "no-pid1" "$tmp/no-pid1-root") 2>&1); then
    fail "a root linking a path the package lacks passed the link check"
  fi
  grep -q 'sbin/init -> sd-no-pid1/lib/systemd/systemd' <<<"$err" || fail "link check does not name /sbin/init: $err"

  if bash "$images/single-root.sh" "$tmp/bad-root" "$tmp/no-such-program" 2>/dev/null; then
    fail "single-root.sh accepted a program that does not exist"
  fi

  # sysusers-passwd.sh refuses lines it does not understand.
  printf 'g duet 803\n' > "$tmp/bad-sysusers.conf"
  mkdir -p "$tmp/bad-etc"; : > "$tmp/bad-etc/passwd"; : > "$tmp/bad-etc/group"
  if bash "$images/sysusers-passwd.sh" "$tmp/bad-sysusers.conf" "$tmp/bad-etc" duet 2>/dev/null; then
    fail "sysusers-passwd.sh accepted an unsupported line"
  fi

  echo "image roots: ok (${#upstream[@]} upstream units found in $host_units)"
}

main "$@"
