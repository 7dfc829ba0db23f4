#!/usr/bin/env bash
# CI stage: the benchmark scripts work end to end. Their unit checks, then one
# short real run of each. The figures are printed, never asserted: a shared CI
# machine measures nothing reliably (the README's figures come from full runs).
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in wrk nginx python3 docker curl; do
  command -v "$tool" >/dev/null || { echo "FAIL: bench stage needs $tool"; exit 1; }
done

python3 -m unittest discover -s tests/bench -p 'test_*.py'

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
python3 tests/bench/crate_bench.py --rounds 1 --duration 2 --warmup 1
python3 tests/bench/compare.py --rounds 1 --duration 2 --idle 2 --out "$out"
test -s "$out/compare.md" && test -s "$out/compare.svg" || { echo "FAIL: compare wrote no table or chart"; exit 1; }
