#!/usr/bin/env python3
"""Checks that the images in the engine carry the config units/images.json gives them:
Entrypoint, Env, ExposedPorts, User, StopSignal and the OCI labels, for the stand-ins
and for any other build of the same images (e.g. Nix-built ones loaded into Docker).

usage: verify_images.py [--engine docker|podman]   (exit 1 on any difference)
"""
import argparse
import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def image_config(engine, ref):
    out = subprocess.run([engine, "image", "inspect", ref], capture_output=True, text=True)
    if out.returncode != 0:
        raise LookupError(f"{ref}: not in {engine}: {out.stderr.strip()}")
    return json.loads(out.stdout)[0]["Config"]


def differences(key, image, doc, actual):
    want = image["config"]
    found = []

    def same(name, expected, got):
        if expected != got:
            found.append(f"{key}: {name} is {got!r}, images.json says {expected!r}")

    same("Entrypoint", want.get("Entrypoint"), actual.get("Entrypoint"))
    same("User", want.get("User", ""), actual.get("User") or "")
    same("StopSignal", want.get("StopSignal"), actual.get("StopSignal"))
    same("ExposedPorts", sorted(want.get("ExposedPorts", {})), sorted(actual.get("ExposedPorts") or {}))
    env = actual.get("Env") or []
    for entry in want.get("Env", []):
        if entry not in env:
            found.append(f"{key}: Env lacks {entry!r} (has {env})")
    labels = actual.get("Labels") or {}
    for label in doc.get("labels", {}):
        if not labels.get(label):
            found.append(f"{key}: label {label} missing or empty")
    same("label title", image["name"], labels.get("org.opencontainers.image.title"))
    same("label source", doc["source"], labels.get("org.opencontainers.image.source"))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    args = parser.parse_args()
    with open(os.path.join(REPO, "units", "images.json")) as f:
        doc = json.load(f)
    problems = []
    for key, image in doc["images"].items():
        ref = f"{doc['registry']}/{image['name']}:{doc['tag']}"
        try:
            problems += differences(key, image, doc, image_config(args.engine, ref))
        except LookupError as error:
            problems.append(str(error))
        else:
            print(f"{ref}: config matches units/images.json")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
