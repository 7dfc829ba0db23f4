#!/usr/bin/env bash
# The whole test suite: one script per stage under tests/ci/, run in the order below.
# A missing stage script is a failure, never a skip. Every stage that touches a container
# engine runs under tests/ci/private-engines.sh --fresh ci-STAGE: a dockerd and a Podman
# storage of its own, wiped first, in a network namespace of its own. So no image,
# container or network of an earlier run (or of the host's engines) can stand in for what
# this run builds, and nothing a stage makes reaches the host's engines.
# Every stage runs, after a failure too; the last line counts them.
#
# usage: tests/ci.sh [--fail-fast] [STAGE...]     (as root; default: every stage)
#   --fail-fast   stop at the first failed stage (the rest count as not run)
# Environment: DUET_CI_ENGINES=PREFIX names the private engines PREFIX-STAGE (default ci);
# each stage's output is also kept in .cache/ci/STAGE.log.
set -euo pipefail
cd "$(dirname "$0")/.."

all_stages=(lint crate nix-lint image-layout contract second-pair bench orchestrators cgroupv2)

usage() {
  echo "usage: $0 [--fail-fast] [STAGE...]   stages: ${all_stages[*]}" >&2
  exit 2
}

# What a stage needs around it:
#   host      runs as it is (no engine)
#   engines   private engines, wiped first; the release binaries built
#   standins  as engines, and the stand-in images built into Docker first
setup_of() {
  case $1 in
    lint | crate | nix-lint) echo host ;;
    image-layout | contract | cgroupv2) echo engines ;;
    bench | orchestrators) echo standins ;;
    *) echo engines ;;
  esac
}

run_stage() { # stage
  local stage=$1 script="tests/ci/$1.sh" setup engines
  [ -x "$script" ] || { echo "FAIL: stage $stage: $script missing or not executable"; return 1; }
  setup=$(setup_of "$stage")
  [ "$setup" = host ] && { "$script"; return; }
  [ "$(id -u)" = 0 ] || { echo "FAIL: stage $stage needs root (private engines in a network namespace)"; return 1; }
  cargo build --locked --release --bins --quiet || { echo "FAIL: stage $stage: cargo build --release"; return 1; }
  engines=${DUET_CI_ENGINES:-ci}-$stage
  if [ "$setup" = standins ]; then
    # shellcheck disable=SC2016  # expands in the inner shell
    tests/ci/private-engines.sh --fresh "$engines" bash -c 'tests/standins/build.sh && exec "$0"' "$script"
  else
    tests/ci/private-engines.sh --fresh "$engines" "$script"
  fi || return
  # Passed: its engine state is of no further use (kept after a failure, to look into).
  rm -rf "/var/lib/duet-engines/$engines"
}

preflight() { # warn at once about anything missing, before the first stage runs
  local missing
  missing=$(tests/install-deps.sh --check 2>&1) && return 0
  echo "ci: WARNING: not everything the stages need is here; the stages that need it will fail:"
  printf '%s\n' "$missing" | sed 's/^/ci:   /'
  echo "ci: install it all with: tests/install-deps.sh (as root)"
}

main() {
  local fail_fast=0 stages=() stage start status log
  while [ $# -gt 0 ]; do
    case $1 in
      --fail-fast) fail_fast=1 ;;
      -h | --help) usage ;;
      -*) echo "ci.sh: unknown option: $1" >&2; usage ;;
      *) [[ " ${all_stages[*]} " == *" $1 "* ]] || { echo "ci.sh: unknown stage: $1" >&2; usage; }
         stages+=("$1") ;;
    esac
    shift
  done
  [ ${#stages[@]} -gt 0 ] || stages=("${all_stages[@]}")
  preflight
  mkdir -p .cache/ci

  local passed=() failed=() not_run=() times=()
  for stage in "${stages[@]}"; do
    if [ $fail_fast = 1 ] && [ ${#failed[@]} -gt 0 ]; then not_run+=("$stage"); continue; fi
    echo "== stage $stage ($(setup_of "$stage"))"
    log=.cache/ci/$stage.log
    start=$SECONDS
    status=0
    run_stage "$stage" 2>&1 | tee "$log" || status=$?
    times+=("$stage $((SECONDS - start)) s")
    if [ $status = 0 ]; then
      passed+=("$stage")
      echo "== stage $stage passed in $((SECONDS - start)) s"
    else
      failed+=("$stage")
      echo "== stage $stage FAILED (exit $status) after $((SECONDS - start)) s; log: $log"
    fi
  done

  local joined
  joined=$(printf '%s, ' "${times[@]}")
  echo "== ci: times: ${joined%, }"
  echo "ci: stages passed: ${passed[*]:-none}; failed: ${failed[*]:-none}; not run: ${not_run[*]:-none}"
  echo "${#passed[@]} passed, ${#failed[@]} failed, ${#not_run[@]} not run"
  [ ${#failed[@]} = 0 ] && [ ${#not_run[@]} = 0 ]
}

main "$@"
