#!/usr/bin/env bash
# CI stage "orchestrators": the separate approach beyond `units/run.sh`.
#   schema   `kubectl kustomize units/kubernetes` and its registry overlay, as rendered,
#            pass `kubernetes-validate --strict` for Kubernetes 1.29 and the newest
#            version it ships; broken copies do not
#   policy   the rendered manifests and the Compose files agree with units/pair.json,
#            the crate version and the server: tags, labels, probes, scrape path, the
#            restricted profile, grace > delay + drain, a PDB that cannot block a drain,
#            the spread, the NetworkPolicy, the overlay changing only the images
#   vm-lint  the k3s VM test scripts, put together as k3s.nix does: pyflakes, mypy against
#            a typed stub of the NixOS test driver, no `grep -q`, no relative log window
#   pod-scripts  the shell the VM tests' busybox pods run, run by busybox against a real
#            duet-server: waits for admission within its bound, counts only after it,
#            proves its own egress open before a refusal counts
#   compose  `docker-compose up` of units/compose.yaml: healthy, memory limits and log
#            rotation applied, 200 by service name, `stop` exits 0 after the drain
#   swarm    `docker stack deploy` of the same file plus units/compose.dnsrr.yaml (no IPVS
#            here) on a single-node swarm, then `docker service update --force` of the
#            server under a stream of requests: 0 lost
# Kubernetes itself cannot run here: the NixOS VM tests vm-k3s and vm-k3s-multinode
# (nix/vm-tests/k3s.nix) apply the same manifests to k3s.
#
# The engine parts need a private dockerd with the stand-in images built in it. Under
# tests/ci.sh that is done already (DOCKER_HOST is set); run alone as root, this script
# builds the release binaries, starts tests/ci/private-engines.sh --fresh orchestrators,
# builds the stand-ins there and runs itself inside. Installs nothing; a missing tool
# fails the stage.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=tests/ci/lib.sh
. tests/ci/lib.sh

need_python_modules() {
  python3 -c 'import yaml, kubernetes_validate' 2>/dev/null \
    || fail "python3 lacks PyYAML or kubernetes_validate (pip install kubernetes-validate==1.37.0)"
  python3 -c 'import pyflakes, mypy' 2>/dev/null \
    || fail "python3 lacks pyflakes or mypy (tests/install-deps.sh installs them)"
}

# Outside any private engine: build, then run this script again inside one.
run_in_private_engines() {
  [ "$(id -u)" = 0 ] || fail "needs root (a private dockerd in a network namespace)"
  need cargo debootstrap
  echo "-- cargo build --release"
  cargo build --locked --release --bins --quiet
  # shellcheck disable=SC2016  # expands in the inner shell
  exec tests/ci/private-engines.sh --fresh orchestrators bash -c 'tests/standins/build.sh && exec "$0"' "$0"
}

main() {
  need python3 kubectl kubernetes-validate docker docker-compose busybox
  need_python_modules
  [ -n "${DOCKER_HOST:-}" ] || run_in_private_engines
  docker info >/dev/null 2>&1 || fail "docker engine not reachable (DOCKER_HOST=$DOCKER_HOST)"
  for b in duet-server duet-client; do
    [ -x "target/release/$b" ] || fail "missing target/release/$b (cargo build --release --bins)"
  done


  echo "-- schema"
  python3 tests/orchestrators/schema.py

  echo "-- policy"
  python3 tests/orchestrators/policy.py --bin-dir target/release

  echo "-- vm-lint"
  python3 tests/orchestrators/vm_lint.py

  echo "-- pod-scripts (busybox)"
  python3 tests/orchestrators/pod_scripts.py --bin-dir target/release

  echo "-- compose (docker-compose $(docker-compose version --short))"
  python3 tests/orchestrators/compose_up.py

  echo "-- swarm (dockerd $(docker version -f '{{.Server.Version}}'))"
  python3 tests/orchestrators/swarm_update.py
}

main "$@"
