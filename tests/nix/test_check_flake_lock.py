#!/usr/bin/env python3
"""Shows that tests/nix/check_flake_lock.py rejects the broken locks it exists to catch:
each case copies flake.nix and flake.lock to a temporary directory, breaks one thing, and
expects exit 1 with a line naming the problem. The unbroken copy must pass.
Usage: test_check_flake_lock.py [REPO_DIR]
"""

import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def drop_nar_hash(lock):
    del lock["nodes"]["crane"]["locked"]["narHash"]


def short_rev(lock):
    lock["nodes"]["nixpkgs"]["locked"]["rev"] = "531670d"


def no_last_modified(lock):
    del lock["nodes"]["advisory-db"]["locked"]["lastModified"]


def unlocked_input(lock):
    del lock["nodes"]["root"]["inputs"]["advisory-db"]
    del lock["nodes"]["advisory-db"]


def wrong_ref(lock):
    lock["nodes"]["nixpkgs"]["original"]["ref"] = "nixos-25.11"


def dangling_edge(lock):
    lock["nodes"]["nix2container"]["inputs"]["nixpkgs"] = "nixpkgs_9"


def old_version(lock):
    lock["version"] = 6


def lost_flake_false(lock):
    del lock["nodes"]["advisory-db"]["flake"]


CASES = {
    drop_nar_hash: "crane: locked.narHash",
    short_rev: "nixpkgs: locked.rev",
    no_last_modified: "advisory-db: locked.lastModified",
    unlocked_input: "input advisory-db: in flake.nix but not in the lock",
    wrong_ref: "input nixpkgs: original.ref",
    dangling_edge: "missing node nixpkgs_9",
    old_version: "version is 6",
    lost_flake_false: "flake = false differs",
}


def run_checker(directory):
    return subprocess.run(
        [sys.executable, str(HERE / "check_flake_lock.py"), str(directory)],
        capture_output=True,
        text=True,
    )


def main(argv):
    repo = Path(argv[1] if len(argv) > 1 else ".").resolve()
    failures = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        shutil.copy(repo / "flake.nix", work / "flake.nix")
        pristine = json.loads((repo / "flake.lock").read_text())
        (work / "flake.lock").write_text(json.dumps(pristine))
        done = run_checker(work)
        if done.returncode != 0:
            failures.append(f"the unbroken lock fails: {done.stdout}{done.stderr}")
        for breaker, expected in CASES.items():
            lock = json.loads(json.dumps(pristine))
            breaker(lock)
            (work / "flake.lock").write_text(json.dumps(lock))
            done = run_checker(work)
            if done.returncode != 1 or expected not in done.stdout:
                failures.append(
                    f"{breaker.__name__}: exit {done.returncode}, expected 1 with "
                    f"{expected!r}; output: {done.stdout.strip()} {done.stderr.strip()}"
                )
    for failure in failures:
        print(f"FAIL: {failure}")
    if not failures:
        print(f"flake.lock checker: rejects all {len(CASES)} broken locks, accepts the real one")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
