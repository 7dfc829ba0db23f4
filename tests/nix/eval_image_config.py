#!/usr/bin/env python3
"""Evaluates nix/lib/spec.nix and nix/lib/config.nix (pure, no nixpkgs) on the pair specs
and compares what the Nix images will carry with what units/run/pairspec.py derives from
the same spec, the path without Nix: each image's OCI config (with and without a revision
label), its name and tags (`latest` and the version), and every derived value
(`pairspec.py json`). Both pairs: duet's units/pair.json and the second pair's
tests/second-pair/pair.json. A few of duet's values are also written out here.
Usage: eval_image_config.py [REPO_DIR]
"""

import json
import subprocess
import sys
from pathlib import Path

from nixeval import nix_eval

SPECS = ("units/pair.json", "tests/second-pair/pair.json")
KEYS = ("systemd", "supervisord", "server", "client")
VERSION = "9.8.7"
REVISION = "0123abcd"

# duet's images, written out: the comparison alone would pass if both sides went wrong.
DUET = {
    "systemd": {"Entrypoint": ["/sbin/init"], "StopSignal": "SIGRTMIN+3"},
    "supervisord": {"Entrypoint": ["/bin/supervisord", "-n", "-c", "/etc/supervisord.conf"]},
    "server": {"Entrypoint": ["/bin/duet-server"], "User": "65534:65534", "ExposedPorts": {"8080/tcp": {}}},
    "client": {"Entrypoint": ["/bin/duet-client"], "User": "65534:65534"},
}


def pairspec(repo: Path, *args):
    done = subprocess.run(
        [sys.executable, str(repo / "units/run/pairspec.py"), *args],
        cwd=repo,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise RuntimeError(f"pairspec.py {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def nix_config(repo: Path, spec: str, key: str, revision):
    rev = "null" if revision is None else f'"{revision}"'
    return nix_eval(
        repo,
        (
            f"import ./nix/lib/config.nix {{ pair = import ./nix/lib/spec.nix ./{spec};"
            f' key = "{key}"; version = "{VERSION}"; revision = {rev}; }}'
        ),
    )


def compare_spec(repo: Path, spec: str):
    problems = []
    derived = pairspec(repo, "json", spec)
    nix_derived = nix_eval(repo, f"(import ./nix/lib/spec.nix ./{spec}).derived")
    if nix_derived != derived:
        problems.append(
            f"{spec}: derived values differ:\n  nix      {json.dumps(nix_derived, sort_keys=True)}"
            f"\n  pairspec {json.dumps(derived, sort_keys=True)}"
        )
    for key in KEYS:
        for revision in (None, REVISION):
            args = ["config", spec, key, VERSION] + ([revision] if revision else [])
            want = pairspec(repo, *args)
            got = nix_config(repo, spec, key, revision)
            if got["config"] != want:
                problems.append(
                    f"{spec}: {key} (revision {revision}): config differs:\n"
                    f"  nix      {json.dumps(got['config'], sort_keys=True)}\n"
                    f"  pairspec {json.dumps(want, sort_keys=True)}"
                )
            if got["name"] != f"localhost/{derived['images'][key]}":
                problems.append(
                    f"{spec}: {key}: image name {got['name']}, expected localhost/{derived['images'][key]}"
                )
            if got["tags"] != ["latest", VERSION]:
                problems.append(f"{spec}: {key}: tags {got['tags']}, expected ['latest', '{VERSION}']")
            labels = got["config"].get("Labels", {})
            if (revision is None) == ("org.opencontainers.image.revision" in labels):
                problems.append(
                    f"{spec}: {key}: revision label {'without' if revision is None else 'missing with'} a revision"
                )
    return problems


def main(argv):
    repo = Path(argv[1] if len(argv) > 1 else ".")
    problems = []
    for spec in SPECS:
        if not (repo / spec).is_file():
            problems.append(f"{spec}: missing")
            continue
        try:
            problems += compare_spec(repo, spec)
        except RuntimeError as error:
            problems.append(f"{spec}: {error}")
    try:
        for key, want in DUET.items():
            config = nix_config(repo, "units/pair.json", key, None)["config"]
            for field, value in want.items():
                if config.get(field) != value:
                    problems.append(f"duet {key}: {field} is {config.get(field)!r}, expected {value!r}")
    except RuntimeError as error:
        problems.append(f"units/pair.json: {error}")
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(f"image config: Nix and pairspec.py agree on {len(KEYS)} images of each of {', '.join(SPECS)}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
