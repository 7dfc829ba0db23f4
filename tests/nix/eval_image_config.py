#!/usr/bin/env python3
"""Evaluates nix/images/config.nix (pure, no nixpkgs) on units/images.json and checks what
the Nix images will carry: the names `docker load` gives, the image config, and the labels
with the version filled in; the revision label only when a revision is given (the images
the checks use get none, so they do not change with each commit), and no source label.
Also checks that an unsupported config key fails the evaluation instead of being dropped.
Expected values are written here.
Usage: eval_image_config.py [REPO_DIR]
"""

import json
import subprocess
import sys
from pathlib import Path

EXPECTED = {
    "systemd": {
        "name": "localhost/duet-systemd",
        "Entrypoint": ["/sbin/init"],
        "StopSignal": "SIGRTMIN+3",
        "Env": ["container=docker"],
        "ExposedPorts": {"8080/tcp": {}},
        "User": None,
    },
    "supervisord": {
        "name": "localhost/duet-supervisord",
        "Entrypoint": ["/bin/supervisord", "-n", "-c", "/etc/supervisord.conf"],
        "StopSignal": "SIGTERM",
        "ExposedPorts": {"8080/tcp": {}},
        "User": None,
    },
    "server": {
        "name": "localhost/duet-server",
        "Entrypoint": ["/bin/duet-server"],
        "StopSignal": "SIGTERM",
        "ExposedPorts": {"8080/tcp": {}},
        "User": "65534:65534",
    },
    "client": {
        "name": "localhost/duet-client",
        "Entrypoint": ["/bin/duet-client"],
        "StopSignal": "SIGTERM",
        "User": "65534:65534",
    },
}


def nix_eval(repo: Path, expr: str):
    done = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expr],
        cwd=repo, capture_output=True, text=True,
    )
    return done.returncode, done.stdout, done.stderr


def config_expr(images_json_expr: str, key: str, revision: str = '"0123abcd"') -> str:
    return (
        f"import ./nix/images/config.nix {{ imagesJson = {images_json_expr}; key = \"{key}\";"
        f' version = "9.8.7"; revision = {revision}; }}'
    )


def main(argv):
    repo = Path(argv[1] if len(argv) > 1 else ".")
    problems = []
    from_file = "builtins.fromJSON (builtins.readFile ./units/images.json)"
    for key, want in EXPECTED.items():
        code, out, err = nix_eval(repo, config_expr(from_file, key))
        if code != 0:
            problems.append(f"{key}: evaluation failed: {err.strip()}")
            continue
        got = json.loads(out)
        config = got["config"]
        if got["name"] != want["name"] or got["tag"] != "latest":
            problems.append(f"{key}: image {got['name']}:{got['tag']}, expected {want['name']}:latest")
        for field in ("Entrypoint", "StopSignal", "Env", "ExposedPorts", "User"):
            if field in want and config.get(field) != want[field]:
                problems.append(f"{key}: {field} is {config.get(field)!r}, expected {want[field]!r}")
        labels = config.get("Labels", {})
        for label, value in {
            "org.opencontainers.image.version": "9.8.7",
            "org.opencontainers.image.revision": "0123abcd",
            "org.opencontainers.image.title": want["name"].split("/", 1)[1],
        }.items():
            if labels.get(label) != value:
                problems.append(f"{key}: label {label} is {labels.get(label)!r}, expected {value!r}")
        leftovers = [v for v in labels.values() if "{" in v]
        if leftovers:
            problems.append(f"{key}: unfilled label templates {leftovers}")
        if "org.opencontainers.image.source" in labels:
            problems.append(f"{key}: a source label, but the project names no source URL")
        code, out, err = nix_eval(repo, config_expr(from_file, key, "null"))
        if code != 0:
            problems.append(f"{key}: evaluation without revision failed: {err.strip()}")
            continue
        unlabelled = json.loads(out)["config"].get("Labels", {})
        if "org.opencontainers.image.revision" in unlabelled:
            problems.append(f"{key}: revision label without a revision")
        if unlabelled.get("org.opencontainers.image.version") != "9.8.7":
            problems.append(f"{key}: version label missing without a revision")
    # A key nix2container would silently drop must stop the evaluation.
    bad = (
        f"let j = {from_file}; in j // {{ images = j.images // {{ server = j.images.server //"
        ' { config = j.images.server.config // { Healthcheck = { }; }; }; }; }'
    )
    code, _, err = nix_eval(repo, config_expr(bad, "server"))
    if code == 0 or "unsupported config keys Healthcheck" not in err:
        problems.append("an unsupported config key (Healthcheck) did not fail the evaluation")
    for p in problems:
        print(f"FAIL: {p}")
    if not problems:
        print(f"image config: {len(EXPECTED)} images ok")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
