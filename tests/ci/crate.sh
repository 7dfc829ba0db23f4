#!/usr/bin/env bash
# CI stage "crate": formatting, lints (warnings are errors) and the cargo tests,
# which start the real binaries on loopback sockets.
set -euo pipefail
cd "$(dirname "$0")/../.."

for tool in cargo rustfmt cargo-clippy; do
  command -v "$tool" >/dev/null || { echo "FAIL: crate stage needs $tool (rustup component add rustfmt clippy)"; exit 1; }
done

echo "-- cargo fmt --check"
cargo fmt --check
echo "-- cargo clippy --all-targets -- -D warnings"
cargo clippy --locked --all-targets -- -D warnings
echo "-- cargo test"
cargo test --locked
echo "-- cargo build --release"
cargo build --locked --release --bins
ls -l target/release/duet-server target/release/duet-client
