#!/usr/bin/env bash
# CI stage: the benchmark scripts work end to end. Their unit checks, then one short real
# run of each: the crate benchmark, the comparison, and the fault benchmark (one round, one
# fault of each kind). The figures are printed, never asserted: a shared CI machine
# measures nothing reliably (the README's figures come from full runs). Results go to a
# temporary directory, never into the repository.
set -euo pipefail

# shellcheck source=tests/ci/lib.sh
. "$(dirname "$0")/lib.sh"

expect_outputs() { # DIR NAME: NAME.md, NAME.svg and NAME.json written
  local ext
  for ext in md svg json; do
    test -s "$1/$2.$ext" || { echo "FAIL: $2 wrote no $2.$ext"; exit 1; }
  done
}

main() {
  cd "$(dirname "$0")/../.."
  need wrk nginx python3 docker curl
  python3 -m unittest discover -s tests/bench -p 'test_*.py'

  out=$(mktemp -d)
  trap 'rm -rf "$out"' EXIT
  python3 tests/bench/crate_bench.py --rounds 1 --duration 2 --warmup 1
  python3 tests/bench/compare.py --rounds 1 --duration 2 --idle 2 --out "$out"
  expect_outputs "$out" compare
  python3 tests/bench/faults.py --rounds 1 --out "$out"
  expect_outputs "$out" faults
}

main "$@"
