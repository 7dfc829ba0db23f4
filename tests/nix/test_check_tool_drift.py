#!/usr/bin/env python3
"""Self-test of check_tool_drift.py: broken copies of the checkout it must reject.

Usage: test_check_tool_drift.py [--only rust|nixfmt] [REPO_DIR]

Each case copies the checkout's files (git ls-files) to a scratch directory,
breaks one thing, runs the checker and expects its exit status and a line
naming the problem. The unchanged copy must pass. Uses the rustc, cargo and
nixfmt on PATH, as the checker does.
"""

import json
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CHECKER = HERE / "check_tool_drift.py"
TABLE = "tests/nix/tool-versions.json"


def installed_rustc() -> tuple[int, int]:
    text = subprocess.run(["rustc", "--version"], capture_output=True, text=True, check=True).stdout
    major, minor = re.match(r"rustc (\d+)\.(\d+)", text).groups()
    return int(major), int(minor)


def edit_json(path: Path, change) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))


def set_manifest(copy: Path, key: str, value: str) -> None:
    manifest = copy / "Cargo.toml"
    text, count = re.subn(rf'(?m)^{key} = ".*"$', f'{key} = "{value}"', manifest.read_text())
    assert count == 1, f"Cargo.toml has no {key} line"
    manifest.write_text(text)


def set_rust_version(copy: Path, value: str) -> None:
    set_manifest(copy, "rust-version", value)


def claim_old_rust(copy: Path) -> None:
    """rust-version 1.60, below what the locked dependencies need (edition 2024 wants 1.85)."""
    set_manifest(copy, "edition", "2021")
    set_manifest(copy, "rust-version", "1.60")


def table(change):
    return lambda copy: edit_json(copy / TABLE, change)


def cases(parts: set[str]) -> list[tuple[str, object, int, str]]:
    """(name, break the copy, expected exit status, expected output)"""
    found = [
        ("unchanged", lambda copy: None, 0, r"^ok: "),
        (
            "table for another nixpkgs",
            table(lambda t: t["nixpkgs"].update(rev="0" * 40)),
            1,
            r"^FAIL: flake\.lock locks nixpkgs",
        ),
    ]
    if "rust" in parts:
        found += rust_cases()
    if "nixfmt" in parts:
        found += [
            (
                "nixpkgs' nixfmt another release",
                table(lambda t: t["nixfmt"].update(version="0.1.0")),
                1,
                r"^FAIL: .* formats as nixfmt",
            ),
            (
                "nixfmt_rs version not recorded",
                table(lambda t: t.update(nixfmt_rs={})),
                1,
                r"^FAIL: nixfmt-rs .* is not in",
            ),
        ]
    return found


def rust_cases() -> list[tuple[str, object, int, str]]:
    major, minor = installed_rustc()
    newer, older = f"{major}.{minor + 1}.0", f"{major}.{minor - 1}.0"
    return [
        (
            "rust-version above nixpkgs' rustc",
            lambda copy: set_rust_version(copy, newer),
            1,
            r"^FAIL: Cargo\.toml rust-version",
        ),
        (
            "dependencies above the crate's rust-version",
            claim_old_rust,
            1,
            r"^FAIL: dependencies that need a newer rustc",
        ),
        (
            "CI's rustc older than nixpkgs'",
            table(lambda t: t["rustc"].update(version=newer)),
            1,
            r"^FAIL: CI's rustc .* is older",
        ),
        (
            "CI's rustc newer than nixpkgs'",
            table(lambda t: t["rustc"].update(version=older)),
            0,
            r"^note: CI's rustc .* is newer",
        ),
    ]


def copy_checkout(repo: Path, into: Path) -> None:
    files = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, files):
        source = repo / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def main(argv: list[str]) -> int:
    args = list(argv)
    parts = {"rust", "nixfmt"}
    if args[:1] == ["--only"] and len(args) >= 2 and args[1] in parts:
        parts = {args[1]}
        args = args[2:]
    if len(args) > 1 or (args and args[0].startswith("-")):
        print("usage: test_check_tool_drift.py [--only rust|nixfmt] [REPO_DIR]", file=sys.stderr)
        return 2
    repo = Path(args[0] if args else ".").resolve()
    only = [] if parts == {"rust", "nixfmt"} else ["--only", next(iter(parts))]
    failures = 0
    for name, breakage, status, expected in cases(parts):
        with tempfile.TemporaryDirectory(prefix="duet-drift-") as scratch:
            copy = Path(scratch)
            copy_checkout(repo, copy)
            breakage(copy)
            out = subprocess.run(
                [sys.executable, str(CHECKER), *only, str(copy)], capture_output=True, text=True
            )
        if out.returncode == status and re.search(expected, out.stdout, re.M):
            print(f"ok: {name}")
        else:
            failures += 1
            print(
                f"FAIL: {name}: exit {out.returncode} (expected {status}), "
                f"no line matching {expected!r} in:\n{out.stdout}{out.stderr}"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
