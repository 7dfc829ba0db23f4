#!/usr/bin/env python3
"""units/run.sh's names and flag table, without an engine or a container.

usage: flags.py
Asserts, by running run.sh --print-names / --print-flags, every cell of the flag table
(engine x cgroup mode x approach, systemd below and from 256), the names of every
approach with the default and another project, and the argument handling (--help,
one-line usage errors with exit 2). The expected flags are written here, per cell.
"""
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
RUN = os.path.join(REPO, "units", "run.sh")

PUBLISH = "-p 127.0.0.1:8080:8080"
RESTART = "--restart unless-stopped"
DOCKER_V1 = "-t --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock"
DOCKER_V2 = ("-t --cgroupns=host --cgroup-parent=duet.slice "
             "-v /sys/fs/cgroup/duet.slice:/sys/fs/cgroup/duet.slice:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp")
HARDENED = "--network duet --read-only --cap-drop ALL --security-opt no-new-privileges"
REFUSED_V1 = ("run.sh: systemd 256 in localhost/duet-systemd:latest refuses cgroup v1 (since 256) and this host "
              "has cgroup {cgroup}: use a cgroup v2 host or an image with systemd < 256\n")

# (engine, cgroup, approach, systemd version) -> expected stdout, one line a container;
# a cell that is refused holds ("refused", stderr).
TABLE = {
    ("docker", "v1", "systemd", 252): [f"duet-systemd {DOCKER_V1} {RESTART} {PUBLISH}"],
    ("docker", "hybrid", "systemd", 252): [f"duet-systemd {DOCKER_V1} {RESTART} {PUBLISH}"],
    ("docker", "v2", "systemd", 252): [f"duet-systemd {DOCKER_V2} {RESTART} {PUBLISH}"],
    ("docker", "v1", "systemd", 256): ("refused", REFUSED_V1.format(cgroup="v1")),
    ("docker", "hybrid", "systemd", 256): ("refused", REFUSED_V1.format(cgroup="hybrid")),
    ("docker", "v2", "systemd", 262): [f"duet-systemd {DOCKER_V2} {RESTART} {PUBLISH}"],
    ("podman", "v1", "systemd", 252): [f"duet-systemd -t --systemd=always {RESTART} {PUBLISH}"],
    ("podman", "hybrid", "systemd", 252): [
        f"duet-systemd --runtime runc -t --systemd=always -v /sys/fs/cgroup/unified:/sys/fs/cgroup/unified:rw {RESTART} {PUBLISH}"],
    ("podman", "v2", "systemd", 252): [f"duet-systemd -t --systemd=always {RESTART} {PUBLISH}"],
    ("podman", "v1", "systemd", 256): ("refused", REFUSED_V1.format(cgroup="v1")),
    ("podman", "hybrid", "systemd", 256): ("refused", REFUSED_V1.format(cgroup="hybrid")),
    ("podman", "v2", "systemd", 262): [f"duet-systemd -t --systemd=always {RESTART} {PUBLISH}"],
    ("docker", "v1", "supervisord", None): [f"duet-supervisord {RESTART} {PUBLISH}"],
    ("docker", "hybrid", "supervisord", None): [f"duet-supervisord {RESTART} {PUBLISH}"],
    ("docker", "v2", "supervisord", None): [f"duet-supervisord {RESTART} {PUBLISH}"],
    ("podman", "v1", "supervisord", None): [f"duet-supervisord {RESTART} {PUBLISH}"],
    ("podman", "hybrid", "supervisord", None): [f"duet-supervisord --runtime runc {RESTART} {PUBLISH}"],
    ("podman", "v2", "supervisord", None): [f"duet-supervisord {RESTART} {PUBLISH}"],
    ("docker", "v1", "separate", None): [
        f"duet-server {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
    ("docker", "hybrid", "separate", None): [
        f"duet-server {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
    ("docker", "v2", "separate", None): [
        f"duet-server {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
    ("podman", "v1", "separate", None): [
        f"duet-server {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
    ("podman", "hybrid", "separate", None): [
        f"duet-server --runtime runc {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client --runtime runc {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
    ("podman", "v2", "separate", None): [
        f"duet-server {HARDENED} {RESTART} {PUBLISH}",
        f"duet-client {HARDENED} -e SERVER_HOST=duet-server {RESTART}"],
}

NAMES = {
    ("systemd", "duet"): ["image localhost/duet-systemd:latest", "container duet-systemd"],
    ("supervisord", "duet"): ["image localhost/duet-supervisord:latest", "container duet-supervisord"],
    ("separate", "duet"): ["image localhost/duet-server:latest", "image localhost/duet-client:latest",
                           "container duet-server", "container duet-client", "network duet"],
    ("systemd", "bench-2"): ["image localhost/duet-systemd:latest", "container bench-2-systemd"],
    ("separate", "bench-2"): ["image localhost/duet-server:latest", "image localhost/duet-client:latest",
                              "container bench-2-server", "container bench-2-client", "network bench-2"],
}

# A project and port other than the defaults, in one cell.
OTHER_PROJECT = (["separate", "--engine", "docker", "--project", "bench-2", "--port", "18080",
                  "--print-flags", "--cgroup", "v2"],
                 ["bench-2-server --network bench-2 --read-only --cap-drop ALL --security-opt no-new-privileges "
                  f"{RESTART} -p 127.0.0.1:18080:8080",
                  "bench-2-client --network bench-2 --read-only --cap-drop ALL --security-opt no-new-privileges "
                  f"-e SERVER_HOST=bench-2-server {RESTART}"])

# argv -> the one line on stderr (exit 2)
USAGE_ERRORS = {
    ("--bogus",): "run.sh: unknown option: --bogus; see run.sh --help",
    ("nonsense",): "run.sh: unknown approach: nonsense (systemd, supervisord or separate); see run.sh --help",
    ("--port",): "run.sh: --port needs a value; see run.sh --help",
    ("--port", "0"): "run.sh: bad port: 0 (1-65535); see run.sh --help",
    ("--port", "70000"): "run.sh: bad port: 70000 (1-65535); see run.sh --help",
    ("--engine", "rkt"): "run.sh: unknown engine: rkt (docker or podman); see run.sh --help",
    ("systemd", "separate"): "run.sh: more than one approach: systemd and separate; see run.sh --help",
    ("--project", "x"): "run.sh: bad project name: 'x' (lowercase letters, digits and '-', 2-56 characters, "
                        "not starting with '-'); see run.sh --help",
    ("--project", "Duet"): "run.sh: bad project name: 'Duet' (lowercase letters, digits and '-', 2-56 characters, "
                           "not starting with '-'); see run.sh --help",
    ("--print-flags",): "run.sh: --print-flags needs --cgroup v1|hybrid|v2; see run.sh --help",
    ("--print-flags", "--cgroup", "v3"): "run.sh: bad --cgroup: v3 (v1, hybrid or v2); see run.sh --help",
    ("--print-flags", "--cgroup", "v1"): "run.sh: --print-flags for systemd needs --systemd-version N "
                                         "(a whole number); see run.sh --help",
    ("--cgroup", "v2"): "run.sh: --cgroup and --systemd-version go only with --print-flags "
                        "(a run reads them from the host and the image); see run.sh --help",
    ("--stop", "--print-names"): "run.sh: --stop and --print-names do not go together; see run.sh --help",
}


def run(*argv, env=None):
    # No engine on PATH: none of these may need one.
    environ = {"PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([RUN, *argv], capture_output=True, text=True, env=environ, timeout=30)


def check(failures, what, ok, detail):
    if not ok:
        failures.append(f"{what}: {detail}")


def main():
    failures = []
    for (engine, cgroup, approach, version), expected in TABLE.items():
        argv = [approach, "--engine", engine, "--print-flags", "--cgroup", cgroup]
        if version is not None:
            argv += ["--systemd-version", str(version)]
        r = run(*argv)
        what = f"{engine} {cgroup} {approach}" + (f" systemd {version}" if version else "")
        if isinstance(expected, tuple):
            check(failures, what, (r.returncode, r.stdout, r.stderr) == (1, "", expected[1]),
                  f"expected refusal (exit 1) {expected[1]!r}, got exit {r.returncode} {r.stdout!r} {r.stderr!r}")
        else:
            got = r.stdout.splitlines()
            check(failures, what, r.returncode == 0 and got == expected,
                  f"exit {r.returncode}\n  got      {got}\n  expected {expected}\n  {r.stderr}")
    r = run(*OTHER_PROJECT[0])
    check(failures, "other project and port", r.stdout.splitlines() == OTHER_PROJECT[1],
          f"got {r.stdout.splitlines()}, expected {OTHER_PROJECT[1]}")

    for (approach, project), expected in NAMES.items():
        for how, argv, env in (("--project", [approach, "--project", project, "--print-names"], None),
                               ("DUET_PROJECT", [approach, "--print-names"], {"DUET_PROJECT": project})):
            r = run(*argv, env=env)
            check(failures, f"names {approach} {project} ({how})", r.returncode == 0 and r.stdout.splitlines() == expected,
                  f"got {r.stdout.splitlines()} (exit {r.returncode}), expected {expected}")
    r = run("--print-names")
    check(failures, "names default approach", r.stdout.splitlines() == NAMES[("systemd", "duet")], r.stdout)

    r = run("--help")
    check(failures, "--help", r.returncode == 0 and r.stdout.startswith("usage: run.sh") and r.stderr == "",
          f"exit {r.returncode}, stdout starts {r.stdout[:40]!r}, stderr {r.stderr!r}")
    for argv, line in USAGE_ERRORS.items():
        r = run(*argv)
        check(failures, f"usage error {' '.join(argv)}", (r.returncode, r.stdout, r.stderr) == (2, "", line + "\n"),
              f"exit {r.returncode}, stderr {r.stderr!r}, expected {line!r}")

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    total = len(TABLE) + 1 + 2 * len(NAMES) + 2 + len(USAGE_ERRORS)
    print(f"run.sh flags and names: {total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
