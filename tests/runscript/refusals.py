#!/usr/bin/env python3
"""units/run.sh refuses at once, in one line, before it creates or loads anything.

usage: refusals.py [--spec FILE] [--port N]
Runs inside tests/ci/private-engines.sh with the stand-in images of the spec's pair
(default units/pair.json, given to run.sh as --spec) in Docker. Each case starts run.sh
where it must refuse and checks its exit status, its one line, how long it took, and,
from the engine's events, that it created, loaded or removed nothing:
  - a bad spec (a copy of FILE with the port out of range): refused naming the field
  - a host port held by a process outside the engine: refused naming the process
  - a host port published by another container: refused naming the container
  - --image-dir with a tarball missing: refused before loading the ones present
  - --image-dir with systemd 256 on a cgroup v1 / hybrid host: refused from the
    tarball, before loading it (a stand-in tarball whose layer holds
    libsystemd-shared-256.so; on a cgroup v2 host this case cannot refuse and is
    reported as not run)
  - Podman separate where new Podman networks have no DNS: refused before the network
    and before loading (reported as not run where Podman has DNS)
"""

import argparse
import gzip
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "units", "run.sh")
sys.path.insert(0, os.path.join(REPO, "units", "run"))
import pairspec  # noqa: E402

FAST_S = 10  # a refusal before anything is made takes about a second; the old port wait took 70 s


def events(since, until):
    fmt = "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}"
    out = subprocess.run(
        ["docker", "events", "--since", since, "--until", until, "--format", fmt],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [line for line in out.splitlines() if line.split(" ", 1)[0] in ("container", "network", "image")]


def podman_state():
    images = subprocess.run(["podman", "images", "-q", "--no-trunc"], capture_output=True, text=True).stdout
    networks = subprocess.run(["podman", "network", "ls", "-q"], capture_output=True, text=True).stdout
    return sorted(images.split()), sorted(networks.split())


def refuses_with(spec, argv, pattern, env=None):
    """Runs run.sh --spec SPEC; returns problems unless it exits 1 fast with one line
    matching pattern and the engine saw nothing created, loaded or removed."""
    since = str(time.time())
    t0 = time.monotonic()
    r = subprocess.run(
        [RUN, "--spec", spec, *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    took = time.monotonic() - t0
    time.sleep(1)
    seen = events(since, str(time.time()))
    problems = []
    lines = [x for x in r.stderr.splitlines() if x.strip()]
    if r.returncode != 1:
        problems.append(f"exit status {r.returncode}, expected 1")
    if len(lines) != 1 or not re.search(pattern, lines[0]):
        problems.append(f"expected one line matching {pattern!r}, got {lines}")
    if took > FAST_S:
        problems.append(f"took {took:.1f} s to refuse")
    if seen:
        problems.append(f"the engine saw: {seen}")
    return problems, (lines[-1] if lines else ""), took


def systemd_256_tarball(directory, spec):
    """A docker-archive (gzip'd) named NAME-systemd.tar.gz whose one layer holds
    libsystemd-shared-256.so, as a systemd 256 image's does."""

    def add(tar, name, data):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))

    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as t:
        add(t, "usr/lib/systemd/libsystemd-shared-256.so", b"")
    config = json.dumps(
        {"architecture": "amd64", "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}}
    ).encode()
    manifest = json.dumps(
        [{"Config": "config.json", "RepoTags": [spec.image_ref("systemd")], "Layers": ["l1/layer.tar"]}]
    ).encode()
    path = os.path.join(directory, f"{spec.image_name('systemd')}.tar.gz")
    with gzip.open(path, "wb") as gz, tarfile.open(fileobj=gz, mode="w") as t:
        add(t, "config.json", config)
        add(t, "l1/layer.tar", layer.getvalue())
        add(t, "manifest.json", manifest)
    return path


def cgroup_mode():
    if os.statvfs("/sys/fs/cgroup") and os.path.exists("/sys/fs/cgroup/cgroup.controllers"):
        return "v2"
    return "hybrid" if os.path.exists("/sys/fs/cgroup/unified/cgroup.controllers") else "v1"


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--spec",
        default=os.path.join(REPO, "units", "pair.json"),
        help="the pair spec run.sh is given (default units/pair.json)",
    )
    parser.add_argument("--port", type=int, default=int(os.environ.get("DUET_CONTRACT_PORT", "8080")))
    args = parser.parse_args()
    try:
        spec = pairspec.load(args.spec)
    except pairspec.SpecError as error:
        parser.error(str(error))
    port = str(args.port)
    results = []  # (case, problems or None when not run, detail)
    work = tempfile.mkdtemp(prefix=f"{spec.name}-refusals-")

    def refuses(argv, pattern, env=None):
        return refuses_with(args.spec, argv, pattern, env)

    try:
        # A bad spec: refused before the engine is asked anything.
        bad_dir = os.path.join(work, "bad-spec")
        shutil.copytree(spec.dir, bad_dir, ignore=shutil.ignore_patterns(".*"))
        bad = os.path.join(bad_dir, os.path.basename(args.spec))
        with open(bad, "w") as f:
            json.dump({**spec.doc, "port": 70000}, f)
        problems, line, took = refuses_with(
            bad,
            ["separate", "--project", "ref-s", "--port", port],
            rf"^run\.sh: {re.escape(os.path.basename(bad))}: port: 70000 is not a "
            r"whole number in 1-65535$",
        )
        results.append(("bad spec", problems, f"{took:.1f} s: {line}"))

        # A port held by a process outside the engine.
        holder = socket.socket()
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", args.port))
        holder.listen()
        try:
            problems, line, took = refuses(
                ["supervisord", "--project", "ref-a", "--port", port],
                rf"host port {port} is in use by python3 \(pid {os.getpid()}: .*refusals\.py",
            )
            results.append(("port held by a process", problems, f"{took:.1f} s: {line}"))
            problems, line, took = refuses(
                ["separate", "--project", "ref-a", "--port", port],
                rf"host port {port} is in use by python3 \(pid {os.getpid()}",
            )
            results.append(
                ("port held by a process (separate: before the network)", problems, f"{took:.1f} s: {line}")
            )
        finally:
            holder.close()

        # A port published by another container.
        subprocess.run(
            [RUN, "supervisord", "--spec", args.spec, "--project", "ref-b", "--port", port, "--detach"],
            check=True,
            capture_output=True,
            timeout=180,
        )
        try:
            problems, line, took = refuses(
                ["separate", "--project", "ref-c", "--port", port],
                rf"host port {port} is published by container ref-b-supervisord of docker",
            )
            results.append(("port published by another container", problems, f"{took:.1f} s: {line}"))
        finally:
            subprocess.run(
                [RUN, "supervisord", "--spec", args.spec, "--project", "ref-b", "--stop"],
                check=True,
                capture_output=True,
                timeout=120,
            )

        # A tarball missing from --image-dir: nothing of the others is loaded.
        partial = os.path.join(work, "partial")
        os.mkdir(partial)
        with gzip.open(os.path.join(partial, f"{spec.image_name('server')}.tar.gz"), "wb") as gz:
            gz.write(
                subprocess.run(
                    ["docker", "save", spec.image_ref("server")], capture_output=True, check=True
                ).stdout
            )
        problems, line, took = refuses(
            ["separate", "--project", "ref-d", "--port", port, "--image-dir", partial],
            rf"missing image tarball {re.escape(partial)}/"
            rf"{re.escape(spec.image_name('client'))}\.tar\.gz",
        )
        results.append(("missing tarball", problems, f"{took:.1f} s: {line}"))

        # systemd >= 256 on cgroup v1: refused from the tarball, before loading it.
        mode = cgroup_mode()
        if mode == "v2":
            results.append(("systemd 256 tarball on cgroup v1", None, "not run: this host has cgroup v2"))
        else:
            newer = os.path.join(work, "newer")
            os.mkdir(newer)
            systemd_256_tarball(newer, spec)
            problems, line, took = refuses(
                ["systemd", "--project", "ref-e", "--port", port, "--image-dir", newer],
                rf"systemd 256 in {re.escape(spec.image_ref('systemd'))} refuses cgroup v1 .* "
                rf"this host has cgroup {mode}",
            )
            results.append(("systemd 256 tarball on cgroup v1", problems, f"{took:.1f} s: {line}"))

        # Podman separate without DNS: refused before the network and before loading.
        backend = subprocess.run(
            ["podman", "info", "--format", "{{.Host.NetworkBackend}}"], capture_output=True, text=True
        ).stdout.strip()
        dnsname = any(
            os.access(os.path.join(d, "dnsname"), os.X_OK)
            for d in (
                "/usr/local/libexec/cni",
                "/usr/libexec/cni",
                "/usr/local/lib/cni",
                "/usr/lib/cni",
                "/opt/cni/bin",
            )
        )
        if backend != "cni" or dnsname:
            results.append(
                ("podman separate without DNS", None, f"not run: podman's {backend} backend here has DNS")
            )
        else:
            full = os.path.join(work, "full")
            os.mkdir(full)
            for key in ("server", "client"):
                with gzip.open(
                    os.path.join(full, f"{spec.image_name(key)}.tar.gz"), "wb", compresslevel=1
                ) as gz:
                    gz.write(
                        subprocess.run(
                            ["docker", "save", spec.image_ref(key)], capture_output=True, check=True
                        ).stdout
                    )
            before = podman_state()
            problems, line, took = refuses(
                ["separate", "--engine", "podman", "--project", "ref-f", "--port", port, "--image-dir", full],
                r"podman's CNI backend without the dnsname plugin: the client cannot find "
                r"ref-f-server by name, so separate cannot run here; install the dnsname "
                r"CNI plugin \(Debian, Ubuntu: apt-get install "
                r"golang-github-containernetworking-plugin-dnsname\)$",
            )
            after = podman_state()
            if after != before:
                problems.append(f"podman images or networks changed: {before} -> {after}")
            results.append(("podman separate without DNS", problems, f"{took:.1f} s: {line}"))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    passed = failed = not_run = 0
    for case, problems, detail in results:
        if problems is None:
            not_run += 1
            print(f"NOT RUN: {case}: {detail}")
        elif problems:
            failed += 1
            for p in problems:
                print(f"FAIL: {case}: {p}", file=sys.stderr)
        else:
            passed += 1
            print(f"ok: {case}: {detail}")
    print(f"refusals: {passed} passed, {failed} failed, {not_run} not run")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
