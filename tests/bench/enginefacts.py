"""What a benchmark records about the engine and the images it measured, shared by compare.py
and faults.py: the engine's version, the image IDs behind the names, the versions of systemd
and supervisor in the images, and the host."""

import os
import platform
import shlex
import subprocess

import containers
from benchlib import BenchError

# The version line each approach's image answers, read in its running serving container.
VERSION_IN_IMAGE = {
    "systemd": ("systemd in image", ["systemctl", "--version"]),
    "supervisord": ("supervisord in image", ["/bin/supervisord", "--version"]),
}


def _run(command, timeout=60):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout)


def image_ids(engine, refs):
    """{image name: image ID} of the named images."""
    ids = {}
    for ref in refs:
        done = _run([engine, "image", "inspect", "--format", "{{.Id}}", ref])
        if done.returncode != 0:
            raise BenchError(
                f"`{engine} image inspect {ref}` exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-400:]}"
            )
        ids[ref] = done.stdout.strip()
    return ids


def version_in(engine, container, command):
    """The first line `command` prints in the running container, or "unknown"."""
    done = _run([engine, "exec", container, *command])
    lines = (done.stdout or done.stderr).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else "unknown"


def versions_in_image(engine, approach, container):
    """{fact: version} of the supervisor in the approach's image (empty for separate)."""
    if approach not in VERSION_IN_IMAGE:
        return {}
    fact, command = VERSION_IN_IMAGE[approach]
    return {fact: version_in(engine, container, command)}


def engine_version(engine):
    """ "docker 20.10.24", from the server when it answers, else from the client."""
    done = _run([engine, "version", "--format", "{{.Server.Version}}"])
    server = done.stdout.strip() if done.returncode == 0 else ""
    if not server:
        done = _run([engine, "--version"])
        if done.returncode != 0:
            raise BenchError(f"`{shlex.join(done.args)}` exited {done.returncode}")
        server = done.stdout.strip()
    return f"{engine} {server}"


def host_facts(engine, versions=None):
    return {
        "engine": engine_version(engine),
        "cgroup": containers.cgroup_version(),
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        **(versions or {}),
    }
