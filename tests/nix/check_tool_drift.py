#!/usr/bin/env python3
"""Compare the tools the flake's checks use with the ones CI runs, without Nix.

Usage: check_tool_drift.py [--only rust|nixfmt] [REPO_DIR]

The versions at the locked nixpkgs are recorded, with their sources, in
tests/nix/tool-versions.json (no Nix build or evaluation of nixpkgs can run
here). Checks:
  lock    the table was written for flake.lock's nixpkgs revision;
  rust    Cargo.toml's rust-version <= the locked nixpkgs' rustc, every
          dependency Cargo.lock resolves for this host declares a
          rust-version <= the crate's, and CI's rustc, clippy and rustfmt are
          one toolchain no older than the locked nixpkgs' (an older clippy
          misses lints the flake's duet-clippy check denies);
  nixfmt  the nixfmt on PATH formats as the locked nixpkgs' nixfmt does.
`lock` always runs; `--only` picks one of the others (default: both).
Prints one line per finding; exits 1 if any check fails, 2 on usage errors.
"""

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

TABLE = Path("tests/nix/tool-versions.json")
PARTS = ("rust", "nixfmt")


def version(text: str) -> tuple[int, ...]:
    """'1.85' -> (1, 85, 0); '1.95.0' -> (1, 95, 0)."""
    parts = [int(part) for part in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def run(command: list[str], cwd: Path) -> str:
    if shutil.which(command[0]) is None:
        raise RuntimeError(f"{command[0]} not found on PATH")
    out = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {out.stderr.strip() or out.returncode}")
    return out.stdout


class Report:
    def __init__(self) -> None:
        self.failed = False

    def ok(self, message: str) -> None:
        print(f"ok: {message}")

    def note(self, message: str) -> None:
        print(f"note: {message}")

    def fail(self, message: str) -> None:
        print(f"FAIL: {message}")
        self.failed = True


def check_lock(repo: Path, table: dict, report: Report) -> None:
    lock = json.loads((repo / "flake.lock").read_text())
    node = lock["nodes"]["root"]["inputs"]["nixpkgs"]
    rev = lock["nodes"][node]["locked"]["rev"]
    if rev == table["nixpkgs"]["rev"]:
        report.ok(f"{TABLE} is for flake.lock's nixpkgs {rev}")
    else:
        report.fail(
            f"flake.lock locks nixpkgs {rev}, {TABLE} records the tools of "
            f"{table['nixpkgs']['rev']}: read rustc's and nixfmt's versions at the new "
            "revision and update the table (tests/nix/README.md, Tool drift)"
        )


def host_triple(repo: Path) -> str:
    for line in run(["rustc", "-vV"], repo).splitlines():
        if line.startswith("host: "):
            return line.removeprefix("host: ")
    raise RuntimeError("rustc -vV names no host")


def check_rust_versions(repo: Path, nix_rustc: str, report: Report) -> None:
    manifest = tomllib.loads((repo / "Cargo.toml").read_text())
    crate = manifest["package"]["rust-version"]
    if version(crate) <= version(nix_rustc):
        report.ok(f"Cargo.toml rust-version {crate} <= the locked nixpkgs' rustc {nix_rustc}")
    else:
        report.fail(
            f"Cargo.toml rust-version {crate} > the locked nixpkgs' rustc {nix_rustc}: "
            "every cargo check of the flake would refuse to build; lower it or update nixpkgs"
        )
    metadata = json.loads(
        run(
            [
                "cargo",
                "metadata",
                "--format-version",
                "1",
                "--locked",
                "--offline",
                "--filter-platform",
                host_triple(repo),
            ],
            repo,
        )
    )
    too_new = sorted(
        f"{package['name']} {package['version']} ({package['rust_version']})"
        for package in metadata["packages"]
        if package["source"] is not None
        and package["rust_version"] is not None
        and version(package["rust_version"]) > version(crate)
    )
    if too_new:
        report.fail(
            f"dependencies that need a newer rustc than the crate's rust-version {crate}: "
            f"{', '.join(too_new)} (cargo update --precise an older version, or raise "
            "rust-version if the locked nixpkgs' rustc allows)"
        )
    else:
        report.ok(
            f"the {len(metadata['packages']) - 1} dependencies resolved for this host need "
            f"at most rust-version {crate}"
        )


def toolchain(repo: Path) -> dict:
    """rustc's version and commit, and the commits clippy and rustfmt name."""
    verbose = dict(line.split(": ", 1) for line in run(["rustc", "-vV"], repo).splitlines() if ": " in line)
    found = {"rustc": verbose["release"], "commit": verbose.get("commit-hash", "unknown")}
    for tool, command in (
        ("clippy", ["cargo", "clippy", "--version"]),
        ("rustfmt", ["rustfmt", "--version"]),
    ):
        text = run(command, repo).strip()
        match = re.search(r"\(([0-9a-f]+) ", text)
        found[tool] = (text, match.group(1) if match else None)
    return found


def check_toolchain(repo: Path, nix_rustc: str, report: Report) -> None:
    found = toolchain(repo)
    rustc = found["rustc"]
    for tool in ("clippy", "rustfmt"):
        text, commit = found[tool]
        if commit is None or not found["commit"].startswith(commit):
            report.fail(
                f"{text!r} is not from rustc {rustc}'s toolchain (commit {found['commit']}): "
                "rustup component add clippy rustfmt for that toolchain"
            )
    ours, theirs = version(rustc)[:2], version(nix_rustc)[:2]
    if ours == theirs:
        report.ok(f"CI's rustc {rustc} and the locked nixpkgs' {nix_rustc} are one release")
    elif ours < theirs:
        report.fail(
            f"CI's rustc {rustc} is older than the locked nixpkgs' {nix_rustc}: its clippy "
            "misses lints the flake's duet-clippy check denies (rustup update stable, or "
            f"rustup default {nix_rustc})"
        )
    else:
        report.note(
            f"CI's rustc {rustc} is newer than the locked nixpkgs' {nix_rustc}: CI's clippy "
            "may have dropped a false positive the flake's duet-clippy still denies, and code "
            f"using what Rust stabilised after {nix_rustc} builds here but not in Nix; "
            f"rustup toolchain install {nix_rustc} runs the flake's versions"
        )


def check_nixfmt(repo: Path, table: dict, report: Report) -> None:
    nix_nixfmt = table["nixfmt"]["version"]
    text = run(["nixfmt", "--version"], repo).strip()
    match = re.fullmatch(r"(nixfmt-rs|nixfmt) v?([0-9][0-9.]*)\S*", text.splitlines()[0])
    if match is None:
        report.fail(f"nixfmt --version says {text!r}: neither nixfmt nor nixfmt-rs")
        return
    name, found = match.groups()
    if name == "nixfmt":
        formats_as = found
    else:
        formats_as = table["nixfmt_rs"].get(found)
        if formats_as is None:
            report.fail(
                f"nixfmt-rs {found} is not in {TABLE}: record the nixfmt release its "
                "README says it matches (or cargo install --locked nixfmt_rs --version "
                f"{' or '.join(key for key in table['nixfmt_rs'] if key != 'comment')})"
            )
            return
    if formats_as == nix_nixfmt:
        report.ok(f"{name} {found} formats as nixfmt {formats_as}, the locked nixpkgs' nixfmt")
    else:
        report.fail(
            f"{name} {found} formats as nixfmt {formats_as}, the locked nixpkgs' is "
            f"{nix_nixfmt}: the flake's nix-format check may reject what CI accepts; "
            "install the matching one, or format with nix fmt"
        )


def main(argv: list[str]) -> int:
    args = list(argv)
    parts = list(PARTS)
    if args[:1] == ["--only"]:
        if len(args) < 2 or args[1] not in PARTS:
            print(f"usage: check_tool_drift.py [--only {'|'.join(PARTS)}] [REPO_DIR]", file=sys.stderr)
            return 2
        parts = [args[1]]
        args = args[2:]
    if len(args) > 1 or (args and args[0].startswith("-")):
        print(f"usage: check_tool_drift.py [--only {'|'.join(PARTS)}] [REPO_DIR]", file=sys.stderr)
        return 2
    repo = Path(args[0] if args else ".").resolve()
    try:
        table = json.loads((repo / TABLE).read_text())
        report = Report()
        check_lock(repo, table, report)
        if "rust" in parts:
            check_rust_versions(repo, table["rustc"]["version"], report)
            check_toolchain(repo, table["rustc"]["version"], report)
        if "nixfmt" in parts:
            check_nixfmt(repo, table, report)
    except (OSError, KeyError, ValueError, RuntimeError) as error:
        print(f"FAIL: check_tool_drift: {type(error).__name__}: {error}")
        return 1
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
