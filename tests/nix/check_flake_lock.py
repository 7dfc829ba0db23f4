#!/usr/bin/env python3
"""Check flake.lock against flake.nix without fetching anything.

Usage: check_flake_lock.py [REPO_DIR]

flake.nix's `inputs` are read with `nix-instantiate --eval` (pure evaluation,
no fetch). The lock must be lock version 7 with a root node, lock every input
of flake.nix under the same name, record the same source (owner, repo, ref,
flake = false) as the input's url, and give every github node a full rev, a
sha256 narHash and lastModified. Every node must be reachable from the root
and every input edge must point at an existing node.
Prints one line per problem and exits 1 if there is any; 2 on usage errors.
"""

import base64
import json
import re
import sys
from pathlib import Path

from nixeval import nix_eval

REV = re.compile(r"^[0-9a-f]{40}$")
NAR_HASH = re.compile(r"^sha256-[A-Za-z0-9+/]{43}=$")


def flake_inputs(repo: Path) -> dict:
    try:
        inputs = nix_eval(repo, "(import ./flake.nix).inputs")
    except RuntimeError as error:
        sys.exit(f"check_flake_lock: cannot evaluate flake.nix inputs: {error}")
    # `inputs.x.url = "..."` and `inputs.x = { url = ...; }` both evaluate to attrsets.
    return {name: spec for name, spec in inputs.items()}


def parse_github_url(url: str):
    """github:OWNER/REPO[/REF] -> dict with owner, repo and ref (if any)."""
    m = re.fullmatch(r"github:([^/?]+)/([^/?]+)(?:/([^?]+))?", url)
    if m is None:
        return None
    parsed = {"type": "github", "owner": m.group(1), "repo": m.group(2)}
    if m.group(3):
        parsed["ref"] = m.group(3)
    return parsed


def check(repo: Path) -> list[str]:
    problems: list[str] = []
    lock_path = repo / "flake.lock"
    try:
        lock = json.loads(lock_path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        return [f"flake.lock: not readable JSON: {err}"]

    if lock.get("version") != 7:
        problems.append(f"flake.lock: version is {lock.get('version')!r}, expected 7")
    nodes = lock.get("nodes")
    root_name = lock.get("root")
    if not isinstance(nodes, dict) or root_name not in nodes:
        return problems + ["flake.lock: no nodes, or the root node is missing"]

    # Every edge points at a node; every node is reachable from the root.
    reachable = set()
    stack = [root_name]
    while stack:
        name = stack.pop()
        if name in reachable:
            continue
        reachable.add(name)
        for input_name, target in nodes[name].get("inputs", {}).items():
            if isinstance(target, list):
                # `follows` edge: a path of input names from the root; not used here.
                continue
            if target not in nodes:
                problems.append(f"node {name}: input {input_name} -> missing node {target}")
            else:
                stack.append(target)
    for name in sorted(set(nodes) - reachable):
        problems.append(f"node {name}: not reachable from the root")

    for name, node in sorted(nodes.items()):
        if name == root_name:
            continue
        locked, original = node.get("locked"), node.get("original")
        if not isinstance(locked, dict) or not isinstance(original, dict):
            problems.append(f"node {name}: missing locked or original")
            continue
        if locked.get("type") != "github":
            problems.append(f"node {name}: locked type {locked.get('type')!r}, expected github")
            continue
        if not REV.match(str(locked.get("rev", ""))):
            problems.append(f"node {name}: locked.rev missing or not 40 hex digits")
        nar = str(locked.get("narHash", ""))
        if not NAR_HASH.match(nar) or len(base64.b64decode(nar[len("sha256-") :])) != 32:
            problems.append(f"node {name}: locked.narHash missing or not a sha256 SRI hash")
        if not isinstance(locked.get("lastModified"), int) or locked["lastModified"] <= 0:
            problems.append(f"node {name}: locked.lastModified missing or not a positive integer")
        for key in ("owner", "repo"):
            if locked.get(key) != original.get(key):
                problems.append(f"node {name}: locked.{key} differs from original.{key}")

    # Every flake.nix input is locked, from the source its url names.
    root_inputs = nodes[root_name].get("inputs", {})
    for name, spec in sorted(flake_inputs(repo).items()):
        target = root_inputs.get(name)
        if target is None:
            problems.append(f"input {name}: in flake.nix but not in the lock's root node")
            continue
        if not isinstance(target, str) or target not in nodes:
            continue  # reported above
        node = nodes[target]
        wanted = parse_github_url(spec.get("url", ""))
        if wanted is None:
            problems.append(f"input {name}: url {spec.get('url')!r} is not github:OWNER/REPO[/REF]")
            continue
        original = node.get("original", {})
        for key, value in wanted.items():
            if original.get(key) != value:
                problems.append(
                    f"input {name}: original.{key} is {original.get(key)!r}, flake.nix says {value!r}"
                )
        if "ref" not in wanted and "ref" in original:
            problems.append(f"input {name}: lock has ref {original['ref']!r}, flake.nix has none")
        if (spec.get("flake", True) is False) != (node.get("flake", True) is False):
            problems.append(f"input {name}: flake = false differs between flake.nix and the lock")
        if spec.get("inputs"):
            problems.append(f"input {name}: flake.nix overrides its inputs; this checker does not model that")
    for name in sorted(set(root_inputs) - set(flake_inputs(repo))):
        problems.append(f"input {name}: locked but not in flake.nix")
    return problems


def main(argv: list[str]) -> int:
    if len(argv) > 2 or (len(argv) == 2 and argv[1].startswith("-")):
        print("usage: check_flake_lock.py [REPO_DIR]", file=sys.stderr)
        return 2
    repo = Path(argv[1] if len(argv) == 2 else ".")
    problems = check(repo)
    for problem in problems:
        print(f"FAIL: {problem}")
    if problems:
        return 1
    print("flake.lock: ok")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
