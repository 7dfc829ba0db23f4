#!/usr/bin/env python3
"""Checks that the images in the engine carry the config units/images.json gives them:
Entrypoint, Env, ExposedPorts, User, StopSignal and the OCI labels, the files of units/
byte for byte at their in-image paths, and the programs each image must (and must not)
carry, for the stand-ins and for any other build of the same images (e.g. Nix-built
ones loaded into Docker): duet-systemd and duet-supervisord both programs, duet-server
/bin/duet-server and /bin/duet-client (its health-check probe), duet-client only
/bin/duet-client.

usage: verify_images.py [--engine docker|podman]   (exit 1 on any difference)
"""
import argparse
import io
import json
import os
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def image_config(engine, ref):
    out = subprocess.run([engine, "image", "inspect", ref], capture_output=True, text=True)
    if out.returncode != 0:
        raise LookupError(f"{ref}: not in {engine}: {out.stderr.strip()}")
    return json.loads(out.stdout)[0]["Config"]


# In-image path -> file in units/ (design.md's fixed paths).
FILES = {
    "systemd": {
        "/etc/systemd/system/server.service": "server.service",
        "/etc/systemd/system/server.socket": "server.socket",
        "/etc/systemd/system/client.service": "client.service",
        "/etc/systemd/journald.conf.d/duet-console.conf": "journald-console.conf",
        "/etc/sysusers.d/duet.conf": "sysusers.conf",
    },
    "supervisord": {
        "/etc/supervisord.conf": "supervisord.conf",
        "/etc/sysusers.d/duet.conf": "sysusers.conf",
    },
}


# Programs each image carries at /bin; the others of PROGRAMS it must not carry.
PROGRAMS = ("duet-server", "duet-client")
CARRIES = {
    "systemd": PROGRAMS,
    "supervisord": PROGRAMS,
    "server": PROGRAMS,
    "client": ("duet-client",),
}


def program_differences(engine, key, cid):
    found = []
    for program in PROGRAMS:
        path = f"/bin/{program}"
        out = subprocess.run([engine, "cp", f"{cid}:{path}", "-"], capture_output=True)
        present = out.returncode == 0
        wanted = program in CARRIES.get(key, ())
        if wanted and not present:
            found.append(f"{key}: {path} missing: {out.stderr.decode(errors='replace').strip()}")
        elif present and not wanted:
            found.append(f"{key}: carries {path}, which it must not")
    return found


def file_differences(engine, key, ref):
    """Copies each file out of a created (never started) container: no tool in the image needed."""
    found = []
    created = subprocess.run([engine, "create", ref], capture_output=True, text=True)
    if created.returncode != 0:
        return [f"{key}: cannot create a container of {ref}: {created.stderr.strip()}"]
    cid = created.stdout.strip().splitlines()[-1]
    try:
        found += program_differences(engine, key, cid)
        for path, name in FILES.get(key, {}).items():
            out = subprocess.run([engine, "cp", f"{cid}:{path}", "-"], capture_output=True)
            if out.returncode != 0:
                found.append(f"{key}: {path} missing: {out.stderr.decode(errors='replace').strip()}")
                continue
            with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
                member = tar.next()
                data = tar.extractfile(member).read() if member and member.isfile() else None
            with open(os.path.join(REPO, "units", name), "rb") as f:
                if data != f.read():
                    found.append(f"{key}: {path} differs from units/{name}")
    finally:
        subprocess.run([engine, "rm", "-f", cid], capture_output=True)
    return found


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
            found = differences(key, image, doc, image_config(args.engine, ref))
        except LookupError as error:
            problems.append(str(error))
            continue
        found += file_differences(args.engine, key, ref)
        problems += found
        if not found:
            files = f", {len(FILES[key])} files of units/" if key in FILES else ""
            programs = " and ".join(f"/bin/{p}" for p in CARRIES.get(key, ()))
            print(f"{ref}: config matches units/images.json{files}; carries {programs}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
