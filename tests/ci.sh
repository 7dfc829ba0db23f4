#!/usr/bin/env bash
# The whole test suite, as README.md gives it. Each stage is one script under
# tests/ci/; a missing stage is a failure, never a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

stages=(crate nix-lint contract bench cgroupv2)
for stage in "${stages[@]}"; do
  script="tests/ci/$stage.sh"
  [ -x "$script" ] || { echo "FAIL: stage $stage: $script missing or not executable"; exit 1; }
  echo "== stage $stage"
  start=$SECONDS
  "$script"
  echo "== stage $stage passed in $((SECONDS - start)) s"
done
echo "== all stages passed"
