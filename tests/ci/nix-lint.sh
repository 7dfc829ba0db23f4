#!/usr/bin/env bash
# CI stage "nix-lint": the Nix side checked statically, without Nix builds (none can run
# here) and without a container engine: every .nix parses, deadnix and nixfmt are clean,
# path literals name tracked files, flake.lock matches flake.nix, the library's spec
# reading (nix/lib/spec.nix, config.nix) derives what units/run/pairspec.py derives for
# both pairs and refuses every spec of tests/specs/bad/ naming its field, the image root
# scripts (shellcheck: the lint stage) build correct trees for both pairs on stand-in packages with
# nixpkgs' layout (checked against this host's systemd units), the writeShellApplication
# texts pass shellcheck as nixpkgs' build runs it, and the VM test scripts compile and the
# contract tests' scripts pass pyflakes and mypy as the NixOS test driver's build runs them
# (the k3s tests' scripts: the orchestrators stage). The trees booted for real are the
# "image-layout" stage. Any missing tool is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

compile_vm_test_scripts() {
  local tmp f scripts=(nix/vm-tests/*.py)
  [ -e "${scripts[0]}" ] || fail "no VM test scripts in nix/vm-tests/"
  tmp=$(mktemp -d)
  for f in "${scripts[@]}"; do
    python3 -c 'import py_compile, sys; py_compile.compile(sys.argv[1], cfile=sys.argv[2], doraise=True)' \
      "$f" "$tmp/$(basename "$f")c" || { rm -rf "$tmp"; fail "$f does not compile"; }
  done
  rm -rf "$tmp"
}

main() {
  need nix-instantiate deadnix nixfmt python3 git shellcheck
  local nix_files f
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
  python3 tests/nix/check_tool_drift.py --only nixfmt . || fail "nixfmt differs from the locked nixpkgs' (tests/nix/README.md, Tool drift)"
  python3 tests/nix/test_check_tool_drift.py --only nixfmt . || fail "tool drift checker self-test"

  echo "-- path literals name tracked files"
  python3 tests/nix/check_nix_paths.py . || fail "nix path literals"

  echo "-- flake.lock"
  python3 tests/nix/check_flake_lock.py . || fail "flake.lock check"
  python3 tests/nix/test_check_flake_lock.py . || fail "flake.lock checker self-test"

  echo "-- image config and derived values: nix/lib against pairspec.py, both pairs"
  python3 tests/nix/eval_image_config.py . || fail "image config"

  echo "-- bad specs refused by nix/lib/spec.nix (tests/specs/bad)"
  python3 tests/nix/eval_bad_specs.py . || fail "spec validation"

  echo "-- image root scripts (nix/images/*-root.sh), both pairs"
  tests/nix/test_image_roots.sh || fail "image root scripts"

  echo "-- writeShellApplication texts through shellcheck (nix/)"
  python3 tests/nix/shellcheck_nix_scripts.py . || fail "writeShellApplication texts"

  echo "-- VM test scripts compile; the contract tests' scripts through pyflakes and mypy"
  compile_vm_test_scripts
  python3 tests/nix/vm_lint.py || fail "VM test scripts (tests/nix/vm_lint.py)"
  echo "nix-lint: all passed"
}

main "$@"
