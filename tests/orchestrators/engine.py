"""Running docker and docker-compose for the Compose and Swarm tests, with one clear
failure message when something does not happen in time."""

import os
import shutil
import subprocess
import sys
import time

import manifests as m


class Failure(Exception):
    pass


def need(*tools):
    for tool in tools:
        if shutil.which(tool) is None:
            raise Failure(f"missing tool: {tool}")


def run(*argv, check=True, timeout=300, quiet=False):
    """Runs argv; returns (status, stdout+stderr). With check, a non-zero exit is a Failure."""
    if not quiet:
        shown = ("<script>" if "\n" in a else a for a in argv)
        print("+ " + " ".join(shown), flush=True)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired as error:
        raise Failure(f"{' '.join(argv)}: no end after {timeout} s") from error
    out = (done.stdout or "") + (done.stderr or "")
    if check and done.returncode != 0:
        raise Failure(f"{' '.join(argv)} exited {done.returncode}:\n{out.strip()}")
    return done.returncode, out


def docker(*args, **kwargs):
    return run("docker", *args, **kwargs)[1].strip()


def wait_until(what, test, timeout, interval=0.5):
    """Calls test() until it returns something true; that value, or Failure naming `what`."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            value = test()
        except Failure as error:
            value, last = None, error
        if value:
            return value
        time.sleep(interval)
    raise Failure(f"{what}: not within {timeout} s" + (f" (last error: {last})" if last else ""))


def check_engine():
    """The engine must be a private one (tests/ci/private-engines.sh sets DOCKER_HOST)."""
    need("docker")
    if not os.environ.get("DOCKER_HOST"):
        raise Failure(
            "DOCKER_HOST is not set: run under tests/ci/private-engines.sh, never on the host's engine"
        )
    run("docker", "info", quiet=True)


def check_images():
    """The stand-in (or Nix) images are loaded under the crate version, the tag the Compose
    file names, and the server image carries its probe."""
    images = m.load_images()
    version = m.crate_version()
    for key in ("server", "client"):
        ref = m.image_ref(images, key, version)
        status, _ = run("docker", "image", "inspect", ref, check=False, quiet=True)
        if status != 0:
            raise Failure(
                f"image {ref} is not loaded: build it (tests/standins/build.sh tags the crate version) first"
            )
    server = m.image_ref(images, "server", version)
    status, out = run(
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "--entrypoint",
        "/bin/duet-client",
        server,
        "--version",
        check=False,
        quiet=True,
    )
    if status != 0:
        raise Failure(f"{server} has no working /bin/duet-client, its health-check probe: {out.strip()}")


def main_wrapper(body):
    try:
        body()
    except Failure as error:
        print(f"FAIL: {error}", flush=True)
        sys.exit(1)
