#!/usr/bin/env python3
"""The Nix library's spec validation (nix/lib/spec.nix, pure, no nixpkgs) on the broken
specs of tests/specs/bad/: each must stop the evaluation with one line
`pair spec FILE: FIELD: ...` naming the field its NAME.expect names and holding its phrase
(tests/specs/README.md). The good specs (duet's and the second pair's) must pass.
Usage: eval_bad_specs.py [REPO_DIR]
"""

import subprocess
import sys
from pathlib import Path

GOOD = ("units/pair.json", "tests/second-pair/pair.json")


def evaluate(repo: Path, spec: str):
    """(exit code, the error lines) of evaluating the spec's validation."""
    done = subprocess.run(
        [
            "nix-instantiate",
            "--eval",
            "--strict",
            "-E",
            f"builtins.seq (import ./nix/lib/spec.nix ./{spec}).name true",
        ],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    return done.returncode, errors


def main(argv):
    repo = Path(argv[1] if len(argv) > 1 else ".")
    problems = []
    specs = sorted((repo / "tests/specs/bad").glob("*.json"))
    if not specs:
        problems.append("no bad specs in tests/specs/bad")
    for path in specs:
        spec = str(path.relative_to(repo))
        expect = path.with_suffix(".expect")
        if not expect.is_file():
            problems.append(f"{spec}: no {expect.name}")
            continue
        field, phrase = expect.read_text(encoding="utf-8").splitlines()[:2]
        code, errors = evaluate(repo, spec)
        message = errors[0] if errors else ""
        if code == 0:
            problems.append(f"{spec}: accepted, expected a refusal naming {field}")
        elif len(errors) != 1 or not message.startswith("error: pair spec "):
            problems.append(f"{spec}: not one line from the validation: {errors}")
        elif f": {field}: " not in message or phrase not in message:
            problems.append(f"{spec}: {message!r} does not name {field!r} with {phrase!r}")
    for spec in GOOD:
        code, errors = evaluate(repo, spec)
        if code != 0:
            problems.append(f"{spec}: refused: {errors}")
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(
            f"spec validation in Nix: {len(specs)} bad specs refused naming their field, "
            f"{len(GOOD)} good ones accepted"
        )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
