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
      inherit (s) name unitFiles enable exitOnFailure server client;
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
'
}

# The pair's executables as the stand-in "pair package", inside the rootfs.
place_programs() { # root
  local b
  for b in "${spec_programs[@]}"; do
    [ -x "$repo/target/release/$b" ] || fail "missing target/release/$b (cargo build --release)"
    place "$repo/target/release/$b" "$1/pairprefix/bin/$b"
  done
}

program_args() { # root
  local b
  for b in "${spec_programs[@]}"; do printf '%s\n' --program "$1/pairprefix/bin/$b"; done
}

systemd_layer() { # root layer
  local root=$1 layer=$2 t f u
  mkdir -p "$root/sdprefix/example/systemd"
  mv "$root/usr/lib/systemd/system" "$root/sdprefix/example/systemd/system"
  rm -rf "$root/etc/systemd/system"
  mkdir "$root/etc/systemd/system"
  # Debian's SysV scripts would come back as units through its sysv generator; nixpkgs'
  # systemd has no SysV compatibility.
  rm -f "$root/usr/lib/systemd/system-generators/systemd-sysv-generator"
  place "$root/usr/lib/systemd/systemd" "$root/sdprefix/lib/systemd/systemd"
  for t in systemctl journalctl systemd-analyze; do place "$root/usr/bin/$t" "$root/sdprefix/bin/$t"; done
  local sd_units=$work/units args=()
  mkdir "$sd_units"
  for f in "${spec_unitFiles[@]}"; do cp "$units/$f" "$sd_units/"; done
  for u in "${spec_enable[@]}"; do args+=(--enable "$u"); done
  for u in "${spec_exitOnFailure[@]}"; do args+=(--exit-on-failure "$u"); done
  mapfile -t upstream < <(nix-instantiate --eval --strict --json "$images/systemd-units.nix" |
    python3 -c 'import json,sys; print("\n".join(json.load(sys.stdin)))')
  for u in "${upstream[@]}"; do args+=(--upstream "$u"); done
  mapfile -t programs < <(program_args "$root")
  bash "$images/systemd-root.sh" "$layer" "$spec_name" "$root/sdprefix" "$base" "$sd_units" \
    "${programs[@]}" "${args[@]}"
}

supervisord_layer() { # root layer
  local root=$1 layer=$2
  # The stand-in "python with supervisor": Debian's python3 (a relative link, so it finds
  # its own prefix) and supervisorctl.
  mkdir -p "$root/pyprefix/bin"
  ln -s ../../usr/bin/python3 "$root/pyprefix/bin/python3"
  place "$root/usr/bin/supervisorctl" "$root/pyprefix/bin/supervisorctl"
  mapfile -t programs < <(program_args "$root")
  bash "$images/supervisord-root.sh" "$layer" "$root/pyprefix" "$base" "$spec_programsFile" \
    "${programs[@]}"
}

# The links point at $root/...; inside the container that prefix is /.
unprefix_links() { # root layer
  local root=$1 link target
  find "$2" -type l | while read -r link; do
    target=$(readlink "$link")
    case $target in "$root"/*) ln -sfn "${target#"$root"}" "$link" ;; esac
  done
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
  need docker nix-instantiate python3 tar
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
  "${key}_layer" "$root" "$layer"
  [ -z "$spec_usersFile" ] || bash "$images/sysusers-passwd.sh" "$spec_usersFile" "$layer/etc" "$spec_name"
  unprefix_links "$root" "$layer"
  if [ "$key" = supervisord ]; then
    # The scripts' first line names the python by its path outside the container, too.
    sed -i "1s|^#!$root/|#!/|" "$layer/bin/supervisord" "$layer/bin/supervisord-exit-on-fatal"
  fi
  build_image "$key" "$root" "$layer" "$tag"
  echo "layout_image.sh: $tag ($key layout over $rootfs)"
}

main "$@"
