#!/usr/bin/env bash
# Builds one image of duet's Nix image layout without Nix: the root tree that
# nix/images/systemd-root.sh or supervisord-root.sh makes, with the arguments nix/images/
# derives from units/pair.json (read through nix/lib/spec.nix), over a Debian root
# filesystem whose systemd, supervisor and python3 stand in for nixpkgs'. The image config
# is `units/run/pairspec.py dockerfile`'s. Used by test_layout_images.sh (Debian 12, the
# host) and by the cgroup v2 proving ground (Debian sid's current systemd, in the guest).
#
# To mimic nixpkgs' systemd, Debian's unit directory is moved out of systemd's search path
# to /sdprefix/example/systemd/system (where nixpkgs keeps its units) and
# /etc/systemd/system is emptied, so what boots is only what systemd-root.sh links and
# enables: the unit allow-list of nix/images/systemd-units.nix.
#
# usage: layout_image.sh systemd|supervisord ROOTFS TAG
#   ROOTFS  a Debian root filesystem with systemd, supervisor and python3 (only read)
#   TAG     the image to make in the Docker engine DOCKER_HOST names (two more tags,
#           TAG-base and TAG-tree, are intermediate and removed)
# Needs root, docker, nix-instantiate, python3 and target/release's binaries.
# shellcheck disable=SC2154 # the spec_* variables come from read_spec, through eval
set -euo pipefail
repo=$(cd "$(dirname "$0")/../.." && pwd)
images=$repo/nix/images
units=$repo/units
base=$repo/units/base

# shellcheck source=tests/ci/lib.sh
. "$repo/tests/ci/lib.sh"

usage() {
  echo "usage: $0 systemd|supervisord ROOTFS TAG" >&2
  exit 2
}

# Copies a file to the stand-in package tree (a copy, not a link: the merge below
# replaces Debian's own file with the image's link to this copy).
place() { # source destination
  mkdir -p "$(dirname "$2")"
  cp -L "$1" "$2"
}

# What nix/images/default.nix passes the root scripts, from duet's spec.
read_spec() {
  nix-instantiate --eval --strict --json -E "
    let s = import $repo/nix/lib/spec.nix $units/pair.json; in {
      inherit (s) name unitFiles enable exitOnFailure dropIns server client;
      programsFile = toString s.programsFile;
      usersFile = toString s.usersFile;
    }" 2>/dev/null | python3 -c '
import json, shlex, sys
s = json.load(sys.stdin)
for key in ("name", "programsFile", "usersFile"):
    print(f"spec_{key}=" + shlex.quote(s[key]))
print("spec_programs=(" + shlex.quote(s["server"]) + " " + shlex.quote(s["client"]) + ")")
for key in ("unitFiles", "enable", "exitOnFailure"):
    print(f"spec_{key}=(" + " ".join(shlex.quote(v) for v in s[key]) + ")")
print("spec_dropInFiles=(" + " ".join(shlex.quote(f) for f in s["dropIns"]) + ")")
print("spec_dropIns=(" + " ".join(shlex.quote(f"{u}.d/{f}") for f, units in s["dropIns"].items() for u in units) + ")")
'
}

# The version of a package in the rootfs's dpkg status (nixpkgs' systemd has a version too).
dpkg_version() { # root package
  awk -v want="$2" '/^Package: /{p=$2} p==want && /^Version: /{print $2; exit}' "$1/var/lib/dpkg/status" \
    | grep . || fail "no $2 package in $1"
}

# The pair's executables as the stand-in "pair package", inside the rootfs.
place_programs() { # root
  local b
  for b in "${spec_programs[@]}"; do
    [ -x "$repo/target/release/$b" ] || fail "missing target/release/$b (cargo build --release)"
    place "$repo/target/release/$b" "$1/pairprefix/bin/$b"
  done
}

program_args() {
  local b
  for b in "${spec_programs[@]}"; do printf '%s\n' --program "/pairprefix/bin/$b"; done
}

# The root scripts run inside the rootfs (chroot), as a Nix build runs them in its sandbox:
# with the rootfs's own bash and systemctl (a newer systemd's systemctl does not run on an
# older host's libraries), and the links they make are the image's paths as they are.
# Their inputs go to /layout-src, their output to /layer; both leave the rootfs after.
stage_inputs() { # root
  local src=$1/layout-src f
  mkdir -p "$src/units"
  cp "$images"/systemd-root.sh "$images"/supervisord-root.sh "$images"/sysusers-passwd.sh "$src/"
  cp -r "$base" "$src/base"
  for f in "${spec_unitFiles[@]}" "${spec_dropInFiles[@]}"; do cp "$units/$f" "$src/units/"; done
  cp "$spec_programsFile" "$src/programs.conf"
  [ -z "$spec_usersFile" ] || cp "$spec_usersFile" "$src/users.conf"
}

in_root() { # root script args...
  local root=$1
  shift
  chroot "$root" /bin/bash "$@" || fail "$* (in the rootfs) failed"
}

systemd_layer() { # root
  local root=$1 t u args=()
  mkdir -p "$root/sdprefix/example/systemd"
  mv "$root/usr/lib/systemd/system" "$root/sdprefix/example/systemd/system"
  rm -rf "$root/etc/systemd/system"
  mkdir "$root/etc/systemd/system"
  # Debian's SysV scripts would come back as units through its sysv generator; nixpkgs'
  # systemd has no SysV compatibility.
  rm -f "$root/usr/lib/systemd/system-generators/systemd-sysv-generator"
  place "$root/usr/lib/systemd/systemd" "$root/sdprefix/lib/systemd/systemd"
  for t in systemctl journalctl systemd-analyze; do place "$root/usr/bin/$t" "$root/sdprefix/bin/$t"; done
  for u in "${spec_enable[@]}"; do args+=(--enable "$u"); done
  for u in "${spec_dropIns[@]}"; do args+=(--drop-in "$u"); done
  for u in "${spec_exitOnFailure[@]}"; do args+=(--exit-on-failure "$u"); done
  args+=(--systemd-version "$(dpkg_version "$root" systemd)")
  mapfile -t upstream < <(nix-instantiate --eval --strict --json "$images/systemd-units.nix" |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
  for u in "${upstream[@]}"; do args+=(--upstream "$u"); done
  mapfile -t programs < <(program_args)
  in_root "$root" /layout-src/systemd-root.sh /layer "$spec_name" /sdprefix /layout-src/base /layout-src/units \
    "${programs[@]}" "${args[@]}"
}

supervisord_layer() { # root
  local root=$1
  # The stand-in "python with supervisor": Debian's python3 (a relative link, so it finds
  # its own prefix) and supervisorctl.
  mkdir -p "$root/pyprefix/bin"
  ln -s ../../usr/bin/python3 "$root/pyprefix/bin/python3"
  place "$root/usr/bin/supervisorctl" "$root/pyprefix/bin/supervisorctl"
  mapfile -t programs < <(program_args)
  in_root "$root" /layout-src/supervisord-root.sh /layer /pyprefix /layout-src/base /layout-src/programs.conf \
    "${programs[@]}"
}

# Debian rootfs + the tree the root script made, merged as the image layers would stack
# (--keep-directory-symlink: Debian's /bin, /sbin are links into /usr), imported, then
# given the image config pairspec.py derives (docker import cannot set STOPSIGNAL).
build_image() { # key root layer tag
  local key=$1 root=$2 layer=$3 tag=$4 ctx=$work/ctx
  tar -C "$layer" -c . | tar -C "$root" -x --keep-directory-symlink
  tar -C "$root" --numeric-owner -c . | docker import - "$tag-base" >/dev/null
  mkdir "$ctx"
  { echo "FROM $tag-base"; python3 "$units/run/pairspec.py" dockerfile \
      "$units/pair.json" "$key" 0.0.0-layout-test layout-test; } >"$ctx/Dockerfile"
  DOCKER_BUILDKIT=0 docker build -q -t "$tag" "$ctx" >/dev/null 2>"$ctx.log" \
    || { cat "$ctx.log" >&2; fail "docker build $tag"; }
  docker rmi "$tag-base" >/dev/null
}

main() {
  [ $# -eq 3 ] || usage
  local key=$1 rootfs=$2 tag=$3
  case $key in systemd | supervisord) ;; *) usage ;; esac
  need docker nix-instantiate python3 tar chroot
  [ "$(id -u)" = 0 ] || fail "needs root (file ownership in the image)"
  [ -x "$rootfs/usr/bin/python3" ] || fail "$rootfs: no Debian root filesystem with python3"
  local assignments
  assignments=$(read_spec) || fail "cannot read units/pair.json through nix/lib/spec.nix"
  eval "$assignments"
  work=$(mktemp -d)
  trap 'rm -rf "$work"' EXIT
  local root=$work/rootfs layer=$work/layer
  cp -a "$rootfs" "$root"
  place_programs "$root"
  stage_inputs "$root"
  "${key}_layer" "$root"
  [ -z "$spec_usersFile" ] || in_root "$root" /layout-src/sysusers-passwd.sh /layout-src/users.conf /layer/etc "$spec_name"
  mv "$root/layer" "$layer"
  rm -rf "$root/layout-src"
  build_image "$key" "$root" "$layer" "$tag"
  echo "layout_image.sh: $tag ($key layout over $rootfs)"
}

main "$@"
