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
  chown -R "$SANDBOX_USER:$SANDBOX_GROUP" "$SANDBOX_TARGET"
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
  echo "-- cargo test (debug, as root)"
  DUET_TEST_JOURNAL_NAMESPACE=required DUET_TEST_PROMTOOL=required cargo test --locked
  echo "-- cargo test --release as $SANDBOX_USER, no capabilities, loopback-only network"
  DUET_TEST_JOURNAL_NAMESPACE=required DUET_TEST_PROMTOOL=required \
    unshare --mount --propagation private "$self" --sandboxed-release-tests
  echo "-- cargo build --release"
  cargo build --locked --release --bins
  ls -l target/release/duet-server target/release/duet-client
}

main "$@"
