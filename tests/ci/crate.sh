#!/usr/bin/env bash
# CI stage "crate": formatting, lints (warnings are errors), the cargo tests (which start the
# real binaries on loopback sockets) in the debug profile as root, the same tests in the
# release profile the way a Nix build sandbox runs them, and the release binaries. Both test
# runs require the full journald test and `promtool check metrics` on the server's /metrics
# (tests/server_http.rs): either missing fails the stage.
set -euo pipefail

# Where the sandboxed run builds; owned by the unprivileged user while it runs.
readonly SANDBOX_TARGET=target/sandbox
readonly SANDBOX_USER=nobody
readonly SANDBOX_GROUP=nogroup

# shellcheck source=tests/ci/lib.sh
. "$(dirname "$(realpath "$0")")/lib.sh"

# The release tests again as root with every capability dropped (bounding, inheritable and
# ambient sets empty, no_new_privs) and only loopback: another setting the flake's test
# check may run in. Then journald.rs where no private /run can be made (no unshare on PATH,
# as in the Nix build sandbox): it must fall back, and DUET_TEST_JOURNAL_NAMESPACE=required
# must turn that into a failure.
capless_root_release_tests() { # PATH-without-unshare
  local bare_path=$1 out
  echo "-- as root"
  # An earlier run left the build to $SANDBOX_USER; root without CAP_DAC_OVERRIDE must own it.
  chown -R root:root "$SANDBOX_TARGET"
  # shellcheck disable=SC2016 # expanded by the inner shells
  unshare --net sh -ec 'ip link set lo up; exec "$@"' sh \
    setpriv --bounding-set=-all --inh-caps=-all --no-new-privs \
    sh -ec 'grep -E "^CapEff:[[:space:]]+0+$" /proc/self/status || {
        echo "FAIL: capabilities left: $(grep CapEff /proc/self/status)"; exit 1; }
      exec "$@"' sh \
    env HOME=/nonexistent cargo test --locked --release
  echo "-- journald.rs without unshare: falls back, and fails if required"
  out=$(env -u DUET_TEST_JOURNAL_NAMESPACE PATH="$bare_path" \
    cargo test --locked --release --test journald -- --nocapture 2>&1) ||
    { echo "$out"; fail "journald.rs failed without unshare"; }
  grep -q "not run: no private /run can be made here" <<<"$out" ||
    { echo "$out"; fail "journald.rs did not fall back without unshare"; }
  if out=$(env DUET_TEST_JOURNAL_NAMESPACE=required PATH="$bare_path" \
    cargo test --locked --release --test journald 2>&1); then
    echo "$out"
    fail "journald.rs passed without unshare though DUET_TEST_JOURNAL_NAMESPACE=required"
  fi
  grep -q "DUET_TEST_JOURNAL_NAMESPACE=required, but no private /run can be made here" <<<"$out" ||
    { echo "$out"; fail "journald.rs failed without unshare, but not for want of a private /run"; }
  echo "journald.rs without unshare: fell back; with DUET_TEST_JOURNAL_NAMESPACE=required: failed"
}

# The suite in the release profile (crane's checks build with CARGO_PROFILE=release) with
# what a Nix build sandbox leaves a build: a user that is not root, no capabilities at all
# (bounding, inheritable and ambient sets empty, no_new_privs) and a network namespace with
# only loopback up. Runs in a private mount namespace whose /mnt is a fresh tmpfs holding
# the checkout, the toolchain and CARGO_HOME (read-only), so that user reaches them
# wherever they are (root's home is 0700).
sandboxed_release_tests() {
  local root=/mnt
  mount -t tmpfs -o mode=755 duet-sandbox "$root"
  mkdir "$root/src" "$root/sysroot" "$root/cargo"
  mount --bind "$PWD" "$root/src"
  mount --bind "$(rustc --print sysroot)" "$root/sysroot"
  mount -o remount,bind,ro "$root/sysroot"
  mount --bind "${CARGO_HOME:-$HOME/.cargo}" "$root/cargo"
  mount -o remount,bind,ro "$root/cargo"
  cd "$root/src"
  # The toolchain's own cargo and rustc, not rustup's proxies (which want to write).
  export PATH=$root/sysroot/bin:$PATH CARGO_HOME=$root/cargo
  export CARGO_TARGET_DIR=$SANDBOX_TARGET
  unset RUSTUP_TOOLCHAIN RUSTUP_HOME

  # Built first with the network and as root, so the sandboxed run only checks freshness.
  cargo test --locked --release --no-run
  capless_root_release_tests "$root/sysroot/bin"
  chown -R "$SANDBOX_USER:$SANDBOX_GROUP" "$SANDBOX_TARGET"
  echo "-- as $SANDBOX_USER"
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare --net sh -ec 'ip link set lo up; exec "$@"' sh \
    setpriv --reuid="$SANDBOX_USER" --regid="$SANDBOX_GROUP" --clear-groups \
    --bounding-set=-all --inh-caps=-all --no-new-privs \
    env HOME=/nonexistent cargo test --locked --release
}

main() {
  local self
  self=$(realpath "$0")
  cd "$(dirname "$self")/../.."
  if [[ ${1:-} == --sandboxed-release-tests ]]; then
    sandboxed_release_tests
    return
  fi
  need cargo rustc rustfmt cargo-clippy unshare setpriv ip promtool
  [[ $(id -u) == 0 ]] || {
    echo "FAIL: crate stage runs as root (private namespaces, the full journald test)"
    exit 1
  }

  echo "-- cargo fmt --check"
  cargo fmt --check
  echo "-- cargo clippy --all-targets -- -D warnings"
  cargo clippy --locked --all-targets -- -D warnings
  echo "-- rustc, clippy, rustfmt and the crate against the locked nixpkgs (tests/nix/check_tool_drift.py)"
  need python3
  python3 tests/nix/check_tool_drift.py --only rust .
  python3 tests/nix/test_check_tool_drift.py --only rust .
  echo "-- cargo test (debug, as root)"
  DUET_TEST_JOURNAL_NAMESPACE=required DUET_TEST_PROMTOOL=required cargo test --locked
  echo "-- cargo test --release with no capabilities and loopback only, as root then as $SANDBOX_USER"
  DUET_TEST_JOURNAL_NAMESPACE=required DUET_TEST_PROMTOOL=required \
    unshare --mount --propagation private "$self" --sandboxed-release-tests
  echo "-- cargo build --release"
  cargo build --locked --release --bins
  ls -l target/release/duet-server target/release/duet-client
}

main "$@"
