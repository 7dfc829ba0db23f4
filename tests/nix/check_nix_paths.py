#!/usr/bin/env python3
"""Every path literal in the repository's .nix files names a file or directory that git
tracks: a flake sees only tracked files, so anything else breaks `nix flake check` at
evaluation. Path literals are read from `nix-instantiate --parse`, which prints them
resolved to absolute paths.
Usage: check_nix_paths.py [REPO_DIR]
"""

import re
import subprocess
import sys
from pathlib import Path


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout


def main(argv):
    repo = Path(argv[1] if len(argv) > 1 else ".").resolve()
    tracked = set(git(repo, "ls-files").splitlines())
    tracked_dirs = {str(Path(f).parent) for f in tracked}
    tracked_dirs |= {str(p) for f in tracked for p in Path(f).parents}
    nix_files = [
        f
        for f in tracked | set(git(repo, "ls-files", "--others", "--exclude-standard").splitlines())
        if f.endswith(".nix")
    ]
    literal = re.compile(re.escape(str(repo)) + r"(/[A-Za-z0-9._+/-]*)?")
    problems, count = [], 0
    for nix_file in sorted(nix_files):
        parsed = subprocess.run(
            ["nix-instantiate", "--parse", str(repo / nix_file)], capture_output=True, text=True
        )
        if parsed.returncode != 0:
            problems.append(f"{nix_file}: does not parse")
            continue
        for match in sorted(set(m.group(0) for m in literal.finditer(parsed.stdout))):
            rel = str(Path(match).relative_to(repo)) if match != str(repo) else "."
            count += 1
            if rel not in tracked and rel not in tracked_dirs:
                problems.append(f"{nix_file}: path {rel} is not a file or directory git tracks")
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(f"nix path literals: {count} references, all tracked")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
