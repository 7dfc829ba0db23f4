"""Pure evaluation of a Nix expression for the checkers here (no fetch, no build)."""

import json
import shutil
import subprocess
from pathlib import Path


def nix_eval(repo: Path, expr: str):
    """`nix-instantiate --eval --strict --json -E EXPR` in repo: the value, or RuntimeError
    with one line saying why not."""
    if shutil.which("nix-instantiate") is None:
        raise RuntimeError("nix-instantiate not found (install nix-bin)")
    done = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "nixbld" not in line]
        raise RuntimeError("nix-instantiate: " + " ".join(lines).strip())
    return json.loads(done.stdout)
