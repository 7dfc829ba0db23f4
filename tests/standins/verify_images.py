#!/usr/bin/env python3
"""Checks the four images of a pair in an engine against what they must be, for the
stand-ins and for any other build of the same images (e.g. Nix-built ones loaded into the
engine):

- the image config: Entrypoint, User, StopSignal, ExposedPorts, Env, the OCI labels (title,
  description, version); the tags `latest` and the version name the same image;
- the files at their in-image paths, byte for byte: the spec's units and drop-ins, the library's drop-in,
  exit-on-failure.service and journald file (systemd image); units/base/supervisord.conf +
  the spec's programs file, /bin/supervisord and /bin/supervisord-exit-on-fatal (the
  library's scripts; their first line, the python, may differ by builder); the spec's users;
- which executables each image carries at /bin, and must not carry; and that a single
  image whose executables are all ELF has no shell (/bin/sh).

For duet (units/pair.json) the expected values are written here; for another pair they are
derived from its spec by units/run/pairspec.py, which is tested on its own.

usage: verify_images.py [--spec FILE] [--engine docker|podman] [--version V]   (exit 1 on any difference)
  --version  the version the images must carry (default: the spec's; without either, any
             non-empty version label with a tag of that name)
"""

import argparse
import io
import json
import os
import subprocess
import sys
import tarfile

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASE = os.path.join(REPO, "units", "base")
sys.path.insert(0, os.path.join(REPO, "units", "run"))
import pairspec  # noqa: E402

KEYS = ("systemd", "supervisord", "server", "client")

# duet's images, written out (design principle: expected values live in the tests).
DUET = {
    "name": "duet",
    "config": {
        "systemd": {
            "Entrypoint": ["/sbin/init"],
            "User": "",
            "StopSignal": "SIGRTMIN+3",
            "ExposedPorts": ["8080/tcp"],
            "Env": ["container=docker"],
            "description": "an HTTP server and the client that polls it: under systemd as PID 1",
        },
        "supervisord": {
            "Entrypoint": ["/bin/supervisord", "-n", "-c", "/etc/supervisord.conf"],
            "User": "",
            "StopSignal": "SIGTERM",
            "ExposedPorts": ["8080/tcp"],
            "Env": [],
            "description": "an HTTP server and the client that polls it: under supervisord as PID 1",
        },
        "server": {
            "Entrypoint": ["/bin/duet-server"],
            "User": "65534:65534",
            "StopSignal": "SIGTERM",
            "ExposedPorts": ["8080/tcp"],
            "Env": [],
            "description": "an HTTP server and the client that polls it: duet-server alone, as PID 1",
        },
        "client": {
            "Entrypoint": ["/bin/duet-client"],
            "User": "65534:65534",
            "StopSignal": "SIGTERM",
            "ExposedPorts": [],
            "Env": ["SERVER_HOST=duet-server", "SERVER_PORT=8080", "POLL_INTERVAL=5s"],
            "description": "an HTTP server and the client that polls it: duet-client alone, as PID 1",
        },
    },
    "programs": ("duet-server", "duet-client"),
    "carries": {
        "systemd": ("duet-server", "duet-client"),
        "supervisord": ("duet-server", "duet-client"),
        "server": ("duet-server", "duet-client"),
        "client": ("duet-client",),
    },
    "units": ("client.service", "server.service", "server.socket"),
    "exit_on_failure": ("server.service", "client.service"),
    "drop_ins": {
        "server.service.d/sandbox.conf": "sandbox.conf",
        "client.service.d/sandbox.conf": "sandbox.conf",
    },
    "users": "sysusers.conf",
}


def expected_for_duet(spec):
    units = os.path.join(REPO, "units")
    return {
        "config": DUET["config"],
        "programs": DUET["programs"],
        "carries": DUET["carries"],
        "restart_direct": [u for u in DUET["exit_on_failure"] if u.endswith(".service")],
        "files": files_expected(
            DUET["name"],
            {u: os.path.join(units, u) for u in DUET["units"]},
            {
                f"/etc/systemd/system/{path}": os.path.join(units, name)
                for path, name in DUET["drop_ins"].items()
            },
            DUET["exit_on_failure"],
            os.path.join(units, "supervisord-programs.conf"),
            os.path.join(units, DUET["users"]),
        ),
    }


def expected_derived(spec, version):
    config = {}
    for key in KEYS:
        c = spec.image_config(key, version or "")
        config[key] = {
            "Entrypoint": c["Entrypoint"],
            "User": c.get("User", ""),
            "StopSignal": c["StopSignal"],
            "ExposedPorts": sorted(c.get("ExposedPorts", {})),
            "Env": c.get("Env", []),
            "description": c["Labels"]["org.opencontainers.image.description"],
        }
    both = (spec.server, spec.client)
    return {
        "config": config,
        "programs": both,
        "restart_direct": [u for u in spec.exit_on_failure if u.endswith(".service")],
        "carries": {
            "systemd": both,
            "supervisord": both,
            "server": tuple(spec.single_programs("server")),
            "client": tuple(spec.single_programs("client")),
        },
        "files": files_expected(
            spec.name,
            {u: os.path.join(spec.units_dir, u) for u in spec.unit_files()},
            dict(spec.drop_in_paths()),
            spec.exit_on_failure,
            spec.programs_file,
            spec.users_file,
        ),
    }


def files_expected(name, units, drop_ins, exit_on_failure, programs_file, users_file):
    """In-image path -> (bytes, skip_first_line) per image key."""

    def read(*paths):
        data = b""
        for path in paths:
            with open(path, "rb") as f:
                data += f.read()
        return data

    systemd = {f"/etc/systemd/system/{unit}": (read(path), False) for unit, path in units.items()}
    systemd.update({in_image: (read(path), False) for in_image, path in drop_ins.items()})
    for unit in exit_on_failure:
        systemd[f"/etc/systemd/system/{unit}.d/exit-on-failure.conf"] = (
            read(os.path.join(BASE, "exit-on-failure.conf")),
            False,
        )
    if exit_on_failure:
        systemd["/etc/systemd/system/exit-on-failure.service"] = (
            read(os.path.join(BASE, "exit-on-failure.service")),
            False,
        )
    systemd["/etc/systemd/journald.conf.d/duet-console.conf"] = (
        read(os.path.join(BASE, "journald-console.conf")),
        False,
    )
    supervisord = {
        "/etc/supervisord.conf": (read(os.path.join(BASE, "supervisord.conf"), programs_file), False),
        "/bin/supervisord": (read(os.path.join(BASE, "supervisord-pid1.py")), True),
        "/bin/supervisord-exit-on-fatal": (read(os.path.join(BASE, "exit-on-fatal.py")), True),
    }
    if users_file:
        systemd[f"/etc/sysusers.d/{name}.conf"] = supervisord[f"/etc/sysusers.d/{name}.conf"] = (
            read(users_file),
            False,
        )
    return {"systemd": systemd, "supervisord": supervisord}


def run(engine, *args):
    return subprocess.run([engine, *args], capture_output=True)


def inspect(engine, ref):
    out = run(engine, "image", "inspect", ref)
    if out.returncode != 0:
        raise LookupError(f"{ref}: not in {engine}: {out.stderr.decode(errors='replace').strip()}")
    return json.loads(out.stdout)[0]


def config_differences(key, title, want, image, version):
    actual = image["Config"]
    found = []

    def same(what, expected, got):
        if expected != got:
            found.append(f"{key}: {what} is {got!r}, expected {expected!r}")

    same("Entrypoint", want["Entrypoint"], actual.get("Entrypoint"))
    same("User", want["User"], actual.get("User") or "")
    same("StopSignal", want["StopSignal"], actual.get("StopSignal"))
    same("ExposedPorts", sorted(want["ExposedPorts"]), sorted(actual.get("ExposedPorts") or {}))
    env = actual.get("Env") or []
    for entry in want["Env"]:
        if entry not in env:
            found.append(f"{key}: Env lacks {entry!r} (has {env})")
    labels = actual.get("Labels") or {}
    same("label title", title, labels.get("org.opencontainers.image.title"))
    same("label description", want["description"], labels.get("org.opencontainers.image.description"))
    got_version = labels.get("org.opencontainers.image.version")
    if version:
        same("label version", version, got_version)
    elif not got_version:
        found.append(f"{key}: label org.opencontainers.image.version missing or empty")
    return found, got_version


def copy_out(engine, cid, path):
    """The file's bytes, None when absent (a symlink's target is not followed: b'')."""
    out = run(engine, "cp", f"{cid}:{path}", "-")
    if out.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
        member = tar.next()
        return tar.extractfile(member).read() if member and member.isfile() else b""


def systemd_major(status):
    """The major version of the systemd package in a dpkg status file's text, or None."""
    for paragraph in status.split("\n\n"):
        fields = dict(line.split(": ", 1) for line in paragraph.splitlines() if ": " in line)
        if fields.get("Package") == "systemd":
            major = fields.get("Version", "").split(".")[0]
            return int(major) if major.isdigit() else None
    return None


def restart_direct_differences(engine, cid, units):
    """restart-direct.conf for each service of systemd.exitOnFailure exactly when the
    image's systemd is 254 or later (the builders decide so)."""
    status = copy_out(engine, cid, "/var/lib/dpkg/status")
    major = systemd_major(status.decode(errors="replace")) if status else None
    if major is None:
        return ["systemd: no systemd version in /var/lib/dpkg/status"]
    want = read_base("restart-direct.conf") if major >= 254 else None
    found = []
    for unit in units:
        path = f"/etc/systemd/system/{unit}.d/restart-direct.conf"
        data = copy_out(engine, cid, path)
        if data != want:
            found.append(
                f"systemd: {path} "
                + (
                    f"missing or differs (systemd {major})"
                    if want
                    else f"present, but systemd {major} does not know RestartMode="
                )
            )
    return found


def read_base(name):
    with open(os.path.join(BASE, name), "rb") as f:
        return f.read()


def content_differences(engine, key, ref, expect):
    """Copies files out of a created (never started) container: no tool in the image needed."""
    found = []
    created = run(engine, "create", ref)
    if created.returncode != 0:
        return [
            f"{key}: cannot create a container of {ref}: {created.stderr.decode(errors='replace').strip()}"
        ], 0
    cid = created.stdout.decode().strip().splitlines()[-1]
    try:
        kinds = set()
        for program in expect["programs"]:
            data = copy_out(engine, cid, f"/bin/{program}")
            wanted = program in expect["carries"][key]
            if wanted and data is None:
                found.append(f"{key}: /bin/{program} missing")
            elif data is not None and not wanted:
                found.append(f"{key}: carries /bin/{program}, which it must not")
            elif data is not None:
                kinds.add("elf" if data[:4] == b"\x7fELF" else "script" if data[:2] == b"#!" else "other")
        if key in ("server", "client") and kinds == {"elf"} and copy_out(engine, cid, "/bin/sh") is not None:
            found.append(f"{key}: has /bin/sh, though its executables are all ELF (expected no shell)")
        files = expect["files"].get(key, {})
        for path, (want, skip_first_line) in files.items():
            data = copy_out(engine, cid, path)
            if data is None:
                found.append(f"{key}: {path} missing")
                continue
            if skip_first_line:
                first, _, data = data.partition(b"\n")
                want = want.partition(b"\n")[2]
                if not (first.startswith(b"#!/") and b"python" in first):
                    found.append(f"{key}: {path} starts with {first[:80]!r}, not a python's #! line")
            if data != want:
                found.append(f"{key}: {path} differs from its source")
        if key == "systemd" and expect["restart_direct"]:
            found += restart_direct_differences(engine, cid, expect["restart_direct"])
        return found, len(files)
    finally:
        run(engine, "rm", "-f", cid)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spec", default=os.path.join(REPO, "units", "pair.json"))
    parser.add_argument("--engine", choices=("docker", "podman"), default="docker")
    parser.add_argument("--version")
    args = parser.parse_args()
    spec = pairspec.load_or_exit(args.spec, "verify_images.py")
    version = args.version or spec.version
    duet = os.path.abspath(args.spec) == os.path.join(REPO, "units", "pair.json")
    expect = expected_for_duet(spec) if duet else expected_derived(spec, version)
    problems = []
    for key in KEYS:
        ref = f"{pairspec.REGISTRY}/{spec.image_name(key)}"
        try:
            image = inspect(args.engine, f"{ref}:latest")
        except LookupError as error:
            problems.append(str(error))
            continue
        found, got_version = config_differences(
            key, spec.image_name(key), expect["config"][key], image, version
        )
        if got_version:
            try:
                tagged = inspect(args.engine, f"{ref}:{got_version}")
                if tagged["Id"] != image["Id"]:
                    found.append(f"{key}: {ref}:{got_version} is not the image {ref}:latest is")
            except LookupError as error:
                found.append(f"{key}: no version tag: {error}")
        content, files = content_differences(args.engine, key, f"{ref}:latest", expect)
        found += content
        problems += found
        if not found:
            programs = " and ".join(f"/bin/{p}" for p in expect["carries"][key])
            extra = f", {files} files" if files else ""
            print(f"{ref}:latest = :{got_version}: config as expected{extra}; carries {programs}")
    for problem in problems:
        print(f"FAIL: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
