#!/usr/bin/env python3
"""units/run.sh's names and flag table, without an engine or a container.

usage: flags.py
Asserts, by running run.sh --print-names / --print-flags, every cell of the flag table
(engine x cgroup mode x approach, systemd below and from 256), the names of every
approach with the default and another project, and the argument handling (--help,
one-line usage errors with exit 2). The expected flags are written here, per cell.
Then the same for a pair that is not duet (other-pair/pair.json: another name, port,
stop timeout and server-host variable), given by --spec and by DUET_SPEC, and the
refusals that need no engine: a bad spec (its one line naming the field, exit 1, even
for a run, before the engine is looked for) and python3 missing. Last, --check-args with
bash alone (the same usage errors; exit 0 for good arguments, whatever the spec) and
tests/try.sh's answers to --help and to a mistyped argument: its own usage, at once,
before anything is installed or built.
"""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(REPO, "units", "run.sh")
TRY = os.path.join(REPO, "tests", "try.sh")
OTHER = os.path.join(HERE, "other-pair", "pair.json")

PUBLISH = "-p 127.0.0.1:8080:8080"
RESTART = "--stop-timeout 10 --restart unless-stopped"
DOCKER_V1 = "-t --cgroupns=host -v /sys/fs/cgroup:/sys/fs/cgroup:ro --tmpfs /run --tmpfs /run/lock"
DOCKER_V2 = (
    "-t --cgroupns=host --cgroup-parent=duet.slice "
    "-v /sys/fs/cgroup/duet.slice:/sys/fs/cgroup/duet.slice:rw --tmpfs /run --tmpfs /run/lock --tmpfs /tmp"
)
REFUSED_V1 = (
    "run.sh: systemd 256 in localhost/duet-systemd:latest refuses cgroup v1 (since 256) and this host "
    "has cgroup {cgroup}: use a cgroup v2 host or an image with systemd < 256\n"
)


def separate(project, publish, tail=RESTART, host_env="SERVER_HOST", runtime=""):
    """The expected lines of the separate approach: the server's container, then the client's."""
    hardened = f"{runtime}--network {project} --read-only --cap-drop ALL --security-opt no-new-privileges"
    return [
        f"{project}-server {hardened} {tail} {publish}",
        f"{project}-client {hardened} -e {host_env}={project}-server {tail}",
    ]


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
        f"duet-systemd --runtime runc -t --systemd=always -v /sys/fs/cgroup/unified:/sys/fs/cgroup/unified:rw {RESTART} {PUBLISH}"
    ],
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
    ("docker", "v1", "separate", None): separate("duet", PUBLISH),
    ("docker", "hybrid", "separate", None): separate("duet", PUBLISH),
    ("docker", "v2", "separate", None): separate("duet", PUBLISH),
    ("podman", "v1", "separate", None): separate("duet", PUBLISH),
    ("podman", "hybrid", "separate", None): separate("duet", PUBLISH, runtime="--runtime runc "),
    ("podman", "v2", "separate", None): separate("duet", PUBLISH),
}

NAMES = {
    ("systemd", "duet"): ["image localhost/duet-systemd:latest", "container duet-systemd"],
    ("supervisord", "duet"): ["image localhost/duet-supervisord:latest", "container duet-supervisord"],
    ("separate", "duet"): [
        "image localhost/duet-server:latest",
        "image localhost/duet-client:latest",
        "container duet-server",
        "container duet-client",
        "network duet",
    ],
    ("systemd", "bench-2"): ["image localhost/duet-systemd:latest", "container bench-2-systemd"],
    ("separate", "bench-2"): [
        "image localhost/duet-server:latest",
        "image localhost/duet-client:latest",
        "container bench-2-server",
        "container bench-2-client",
        "network bench-2",
    ],
}

# A project and port other than the defaults, in one cell.
OTHER_PROJECT = (
    [
        "separate",
        "--engine",
        "docker",
        "--project",
        "bench-2",
        "--port",
        "18080",
        "--print-flags",
        "--cgroup",
        "v2",
    ],
    separate("bench-2", "-p 127.0.0.1:18080:8080"),
)

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
    (
        "--project",
        "Duet",
    ): "run.sh: bad project name: 'Duet' (lowercase letters, digits and '-', 2-56 characters, "
    "not starting with '-'); see run.sh --help",
    ("--print-flags",): "run.sh: --print-flags needs --cgroup v1|hybrid|v2; see run.sh --help",
    ("--print-flags", "--cgroup", "v3"): "run.sh: bad --cgroup: v3 (v1, hybrid or v2); see run.sh --help",
    ("--print-flags", "--cgroup", "v1"): "run.sh: --print-flags for systemd needs --systemd-version N "
    "(a whole number); see run.sh --help",
    ("--cgroup", "v2"): "run.sh: --cgroup and --systemd-version go only with --print-flags "
    "(a run reads them from the host and the image); see run.sh --help",
    ("--stop", "--print-names"): "run.sh: --stop and --print-names do not go together; see run.sh --help",
    ("--spec",): "run.sh: --spec needs a value; see run.sh --help",
    ("--spec", ""): "run.sh: --spec needs a file; see run.sh --help",
    # Usage errors come before the spec is read.
    ("--spec", "/nonexistent/pair.json", "--port", "0"): "run.sh: bad port: 0 (1-65535); see run.sh --help",
}

# The other pair: name tally, port 9431, stop timeout 7, server-host variable TALLY_UPSTREAM.
O_TAIL = "--stop-timeout 7 --restart unless-stopped"
O_PUBLISH = "-p 127.0.0.1:9431:9431"
OTHER_TABLE = {
    ("docker", "hybrid", "systemd", 252): [f"tally-systemd {DOCKER_V1} {O_TAIL} {O_PUBLISH}"],
    ("docker", "v2", "systemd", 252): [f"tally-systemd {DOCKER_V2} {O_TAIL} {O_PUBLISH}"],
    ("podman", "hybrid", "supervisord", None): [f"tally-supervisord --runtime runc {O_TAIL} {O_PUBLISH}"],
    ("docker", "v1", "separate", None): separate("tally", O_PUBLISH, O_TAIL, "TALLY_UPSTREAM"),
    ("podman", "v2", "separate", None): separate("tally", O_PUBLISH, O_TAIL, "TALLY_UPSTREAM"),
}
OTHER_REFUSED = (
    "run.sh: systemd 256 in localhost/tally-systemd:latest refuses cgroup v1 (since 256) and this host "
    "has cgroup v1: use a cgroup v2 host or an image with systemd < 256\n"
)
OTHER_NAMES = {
    ("systemd", None): ["image localhost/tally-systemd:latest", "container tally-systemd"],
    ("supervisord", None): ["image localhost/tally-supervisord:latest", "container tally-supervisord"],
    ("separate", None): [
        "image localhost/tally-server:latest",
        "image localhost/tally-client:latest",
        "container tally-server",
        "container tally-client",
        "network tally",
    ],
    ("separate", "t-2"): [
        "image localhost/tally-server:latest",
        "image localhost/tally-client:latest",
        "container t-2-server",
        "container t-2-client",
        "network t-2",
    ],
}
OTHER_PORT = (
    ["separate", "--project", "t-2", "--port", "18080", "--print-flags", "--cgroup", "v2"],
    separate("t-2", "-p 127.0.0.1:18080:9431", O_TAIL, "TALLY_UPSTREAM"),
)

# Bad specs, made from the other pair's: (what, change to the JSON document, the one line
# run.sh prints without its "run.sh: " prefix).
BAD_SPECS = [
    ("port 0", lambda d: d.update(port=0), "pair.json: port: 0 is not a whole number in 1-65535"),
    (
        "unknown field",
        lambda d: d.update(prot=1),
        "pair.json: prot: unknown field (known: client, description, health, name, port, server, stopTimeoutSec, "
        "supervisord, systemd, users, version)",
    ),
    (
        "no server executable",
        lambda d: d["server"].pop("executable"),
        "pair.json: server.executable: missing",
    ),
    (
        "unknown ability",
        lambda d: d["server"].update(abilities=["telepathy"]),
        "pair.json: server.abilities: unknown ability 'telepathy' (known: socket-activation, notify, readiness, "
        "inherited-socket)",
    ),
    (
        "health command not in the image",
        lambda d: d["health"].update(command=["curl", "-f", "localhost"]),
        "pair.json: health.command: 'curl' is not in the images (it must be server.executable or "
        "client.executable)",
    ),
]


def run(*argv, env=None):
    # No engine on PATH: none of these may need one.
    environ = {"PATH": "/usr/bin:/bin", **(env or {})}
    return subprocess.run([RUN, *argv], capture_output=True, text=True, env=environ, timeout=30)


def check(failures, what, ok, detail):
    if not ok:
        failures.append(f"{what}: {detail}")


def check_lines(failures, what, r, expected):
    """r exited 0, its stdout these lines."""
    check(
        failures,
        what,
        r.returncode == 0 and r.stdout.splitlines() == expected,
        f"exit {r.returncode}\n  got      {r.stdout.splitlines()}\n  expected {expected}\n  {r.stderr}",
    )


def check_exit(failures, what, r, code, stderr):
    """r exited with code, nothing on stdout, exactly stderr on stderr."""
    check(
        failures,
        what,
        (r.returncode, r.stdout, r.stderr) == (code, "", stderr),
        f"exit {r.returncode}, stdout {r.stdout!r}, stderr {r.stderr!r}, expected exit {code} {stderr!r}",
    )


def cell(engine, cgroup, approach, version, *more):
    """run.sh's arguments that print the flags of one cell of the table."""
    argv = [approach, *more, "--engine", engine, "--print-flags", "--cgroup", cgroup]
    return argv + (["--systemd-version", str(version)] if version is not None else [])


def main():
    failures = []
    for (engine, cgroup, approach, version), expected in TABLE.items():
        r = run(*cell(engine, cgroup, approach, version))
        what = f"{engine} {cgroup} {approach}" + (f" systemd {version}" if version else "")
        if isinstance(expected, tuple):
            check_exit(failures, what, r, 1, expected[1])
        else:
            check_lines(failures, what, r, expected)
    check_lines(failures, "other project and port", run(*OTHER_PROJECT[0]), OTHER_PROJECT[1])

    for (approach, project), expected in NAMES.items():
        for how, argv, env in (
            ("--project", [approach, "--project", project, "--print-names"], None),
            ("DUET_PROJECT", [approach, "--print-names"], {"DUET_PROJECT": project}),
        ):
            check_lines(failures, f"names {approach} {project} ({how})", run(*argv, env=env), expected)
    check_lines(failures, "names default approach", run("--print-names"), NAMES[("systemd", "duet")])

    r = run("--help")
    check(
        failures,
        "--help",
        r.returncode == 0 and r.stdout.startswith("usage: run.sh") and r.stderr == "",
        f"exit {r.returncode}, stdout starts {r.stdout[:40]!r}, stderr {r.stderr!r}",
    )
    r = run("--help", "--spec", "/nonexistent/pair.json")
    check(
        failures,
        "--help reads no spec",
        r.returncode == 0 and r.stdout.startswith("usage: run.sh") and r.stderr == "",
        f"exit {r.returncode}, stderr {r.stderr!r}",
    )
    for argv, line in USAGE_ERRORS.items():
        check_exit(failures, f"usage error {' '.join(argv)}", run(*argv), 2, line + "\n")

    total = len(TABLE) + 1 + 2 * len(NAMES) + 3 + len(USAGE_ERRORS)
    total += other_pair(failures)
    total += bad_specs(failures)
    total += check_args_and_try(failures)

    for f in failures:
        print(f"FAIL: {f}", file=sys.stderr)
    print(f"run.sh flags and names: {total - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


def other_pair(failures):
    """The other pair's cells and names, by --spec and by DUET_SPEC; returns the number of checks."""
    checks = 0
    for how, spec_argv, env in (("--spec", ["--spec", OTHER], None), ("DUET_SPEC", [], {"DUET_SPEC": OTHER})):
        for (engine, cgroup, approach, version), expected in OTHER_TABLE.items():
            r = run(*cell(engine, cgroup, approach, version, *spec_argv), env=env)
            check_lines(failures, f"other pair ({how}) {engine} {cgroup} {approach}", r, expected)
            checks += 1
        r = run("systemd", *spec_argv, "--print-flags", "--cgroup", "v1", "--systemd-version", "256", env=env)
        check_exit(failures, f"other pair ({how}) systemd 256 refused", r, 1, OTHER_REFUSED)
        for (approach, project), expected in OTHER_NAMES.items():
            r = run(
                approach, *spec_argv, *(["--project", project] if project else []), "--print-names", env=env
            )
            what = f"other pair ({how}) names {approach} {project or '(the spec name)'}"
            check_lines(failures, what, r, expected)
        r = run(*OTHER_PORT[0], *spec_argv, env=env)
        check_lines(failures, f"other pair ({how}) project and port", r, OTHER_PORT[1])
        checks += 1 + len(OTHER_NAMES) + 1
    # --spec wins over DUET_SPEC; DUET_PROJECT over the spec's name.
    r = run(
        "supervisord",
        "--spec",
        OTHER,
        "--print-names",
        env={"DUET_SPEC": "/nonexistent.json", "DUET_PROJECT": "p-9"},
    )
    expected = ["image localhost/tally-supervisord:latest", "container p-9-supervisord"]
    check_lines(failures, "--spec over DUET_SPEC, DUET_PROJECT over the spec's name", r, expected)
    return checks + 1


def bad_specs(failures):
    """Each bad spec: one line naming the field, exit 1, for --print-names and for a run
    with no engine on PATH (the spec is read first); python3 missing: one line. Returns the
    number of checks."""
    checks = 0
    with open(OTHER) as f:
        good = json.load(f)
    work = tempfile.mkdtemp(prefix="runscript-flags-")
    try:
        bad_dir = os.path.join(work, "bad")
        shutil.copytree(os.path.dirname(OTHER), bad_dir)
        bad = os.path.join(bad_dir, "pair.json")
        for what, change, line in BAD_SPECS:
            doc = json.loads(json.dumps(good))
            change(doc)
            with open(bad, "w") as f:
                json.dump(doc, f)
            for argv in (
                ["separate", "--print-names"],
                ["separate", "--engine", "docker", "--port", "18999"],
            ):
                r = run(*argv, "--spec", bad)
                check_exit(failures, f"bad spec ({what}): {' '.join(argv)}", r, 1, f"run.sh: {line}\n")
                checks += 1
        r = run("--print-names", "--spec", os.path.join(work, "absent.json"))
        line = f"run.sh: cannot read the spec {work}/absent.json: No such file or directory\n"
        check_exit(failures, "spec file missing", r, 1, line)
        with open(bad, "w") as f:
            f.write('{"name": "tally",')
        r = run("--print-names", "--spec", bad)
        check(
            failures,
            "spec not JSON",
            r.returncode == 1
            and r.stdout == ""
            and len(r.stderr.splitlines()) == 1
            and r.stderr.startswith("run.sh: pair.json: not JSON: "),
            f"exit {r.returncode}, stderr {r.stderr!r}",
        )

        # No python3: a PATH of bash and dirname alone.
        bare = os.path.join(work, "bin")
        os.mkdir(bare)
        for tool in ("bash", "dirname"):
            os.symlink(shutil.which(tool), os.path.join(bare, tool))
        r = run("--print-names", env={"PATH": bare})
        line = "run.sh: python3 not found in PATH: run.sh reads the pair spec with it\n"
        check_exit(failures, "python3 missing", r, 1, line)
        checks += 3
    finally:
        shutil.rmtree(work)
    return checks


# try.sh's one-line complaints (then its usage), from run.sh's usage errors.
TRY_ERRORS = {
    ("sepaarte",): "try.sh: unknown approach: sepaarte (systemd, supervisord or separate)",
    ("separate", "--detatch"): "try.sh: unknown option: --detatch",
    ("--engine", "dokcer"): "try.sh: unknown engine: dokcer (docker or podman)",
    ("--project", "My_Pair"): "try.sh: bad project name: 'My_Pair' (lowercase letters, digits and '-', 2-56 "
    "characters, not starting with '-')",
}
# A bound that tells "answered from the arguments" from "installed or built first" (minutes).
AT_ONCE_S = 5


def timed_try(argv, env):
    """try.sh's answer to argv, and the seconds it took."""
    started = time.monotonic()
    r = subprocess.run([TRY, *argv], capture_output=True, text=True, env=env, timeout=60)
    return r, time.monotonic() - started


def check_args_and_try(failures):
    """run.sh --check-args and try.sh's argument answers, with a PATH of bash, dirname and cat
    alone: no python3 (no spec read), no apt-get, cargo or engine. Returns the number of checks."""
    checks = 0
    work = tempfile.mkdtemp(prefix="runscript-args-")
    try:
        bare = os.path.join(work, "bin")
        os.mkdir(bare)
        for tool in ("bash", "dirname", "cat"):
            os.symlink(shutil.which(tool), os.path.join(bare, tool))
        env = {"PATH": bare}
        for argv, line in USAGE_ERRORS.items():
            r = run("--check-args", *argv, env=env)
            check_exit(failures, f"--check-args {' '.join(argv)}", r, 2, line + "\n")
            checks += 1
        for argv in (
            ["separate", "--engine", "podman", "--project", "p-2", "--port", "18080", "--detach"],
            ["--spec", "/nonexistent/pair.json", "--stop"],
            ["systemd", "--print-flags", "--cgroup", "v1", "--systemd-version", "252"],
        ):
            check_exit(failures, f"--check-args {' '.join(argv)}", run("--check-args", *argv, env=env), 0, "")
            checks += 1

        for argv in (["--help"], ["-h"], ["separate", "--detach", "--help"]):
            r, took = timed_try(argv, env)
            check(
                failures,
                f"try.sh {' '.join(argv)}",
                r.returncode == 0
                and r.stdout.startswith("usage: tests/try.sh")
                and "units/run.sh --help" in r.stdout
                and r.stderr == ""
                and took < AT_ONCE_S,
                f"exit {r.returncode} after {took:.1f} s, stdout starts {r.stdout[:40]!r}, stderr {r.stderr!r}",
            )
            checks += 1
        for argv, line in TRY_ERRORS.items():
            r, took = timed_try(argv, env)
            said = r.stderr.splitlines()
            check(
                failures,
                f"try.sh {' '.join(argv)}",
                r.returncode == 2
                and r.stdout == ""
                and len(said) > 1
                and said[0] == line
                and said[1].startswith("usage: tests/try.sh")
                and took < AT_ONCE_S,
                f"exit {r.returncode} after {took:.1f} s, stderr {r.stderr[:300]!r}, expected {line!r} then the usage",
            )
            checks += 1
    finally:
        shutil.rmtree(work)
    return checks


if __name__ == "__main__":
    sys.exit(main())
