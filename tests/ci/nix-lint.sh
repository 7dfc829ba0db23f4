#!/usr/bin/env bash
# CI stage nix-lint: everything about the Nix side that can be checked without Nix builds
# (no Nix build runs here): every .nix parses, deadnix and nixfmt are clean, flake.lock
# matches flake.nix, the image config evaluates from units/images.json, the image root
# scripts build correct trees (checked against this host's systemd units) that boot for
# real in Docker and pass the container contract in Podman, with Debian's systemd and
# supervisor standing in for nixpkgs', and the VM test scripts compile. Needs the release
# binaries of the crate stage, Docker, Podman and debootstrap. Any missing tool is a
# failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() { echo "FAIL: $*" >&2; exit 1; }
for tool in nix-instantiate deadnix nixfmt python3 bash; do
  command -v "$tool" >/dev/null || fail "missing tool: $tool"
done

mapfile -t nix_files < <(git ls-files --cached --others --exclude-standard -- '*.nix')
[ ${#nix_files[@]} -gt 0 ] || fail "no .nix files found"

echo "-- nix-instantiate --parse (${#nix_files[@]} files)"
for f in "${nix_files[@]}"; do
  nix-instantiate --parse "$f" >/dev/null || fail "$f does not parse"
done

echo "-- deadnix --fail"
deadnix --fail "${nix_files[@]}" || fail "deadnix found unused code"

echo "-- nixfmt --check"
nixfmt --check "${nix_files[@]}" || fail "nixfmt: not formatted (run: nixfmt ${nix_files[*]})"

echo "-- path literals name tracked files"
python3 tests/nix/check_nix_paths.py . || fail "nix path literals"

echo "-- flake.lock"
python3 tests/nix/check_flake_lock.py . || fail "flake.lock check"
python3 tests/nix/test_check_flake_lock.py . || fail "flake.lock checker self-test"

echo "-- image config from units/images.json (nix/images/config.nix)"
python3 tests/nix/eval_image_config.py . || fail "image config"

echo "-- image root scripts (nix/images/*-root.sh)"
tests/nix/test_image_roots.sh || fail "image root scripts"

echo "-- image root filesystems booted in Docker and Podman, contract included (Debian packages as stand-ins)"
tests/nix/test_layout_images.sh || fail "image layouts"

echo "-- VM test scripts compile"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for f in nix/vm-tests/*.py; do
  python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
    "$f" "$tmp/$(basename "$f")c" || fail "$f does not compile"
done
ls nix/vm-tests/*.py >/dev/null 2>&1 || fail "no VM test scripts"
echo "nix-lint: all passed"
