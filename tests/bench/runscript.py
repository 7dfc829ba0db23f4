"""The benchmarks' handle on units/run.sh and the pair spec: what an approach is called
under a project name, starting it detached, stopping it, and what the spec says about the
pair (units, programs, executables, port, log lines).

Every benchmark run uses a project name of its own (`run.sh --project NAME`), so its
containers and network never collide with anyone else's on the same engine. Whether NAME can
be one, and what the approach's containers and network are then called, only run.sh says
(`--check-args`, `--print-names`), never a rule or table here; everything else about the
pair comes from the spec itself (units/run/pairspec.py).
"""

import os
import shlex
import shutil
import socket
import subprocess
import sys

from benchlib import BenchError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "units", "run"))
import pairspec  # noqa: E402

DEFAULT_SPEC = os.path.join(REPO, "units", "pair.json")
RUN_SH = os.path.join(REPO, "units", "run.sh")
APPROACHES = ("systemd", "supervisord", "separate")


def add_spec_argument(parser):
    parser.add_argument(
        "--spec",
        default=DEFAULT_SPEC,
        help="the pair spec, given to the run script as --spec (default units/pair.json)",
    )


def load_spec(parser, path):
    """The validated spec, or parser.error with pairspec's one line."""
    try:
        return pairspec.load(path)
    except pairspec.SpecError as error:
        parser.error(f"--spec: {error}")


def project_refusal(project, run=RUN_SH):
    """None if the run script takes `project` as --project, else its one-line reason.
    The rule is run.sh's alone: asked with --check-args, which needs bash only."""
    if not project:
        return "must not be empty (a benchmark's containers carry a prefix of their own)"
    command = shlex.split(run) if isinstance(run, str) else list(run)
    try:
        done = subprocess.run(
            [*command, "--check-args", "--project", project], capture_output=True, text=True, timeout=30
        )
    except OSError as error:
        raise BenchError(f"cannot run the run script {command[0]}: {error.strerror}") from None
    if done.returncode == 0:
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    if done.returncode != 2 or not lines:
        raise BenchError(
            f"`{shlex.join(done.args)}` exited {done.returncode}" + (f": {lines[-1]}" if lines else "")
        )
    reason = lines[-1].split(": ", 1)[-1]  # without the "run.sh: " prefix
    return reason.rsplit("; see ", 1)[0] if reason.endswith(" --help") else reason


def check_project(parser, project, run=RUN_SH):
    """parser.error unless the run script takes `project` as --project."""
    try:
        refusal = project_refusal(project, run)
    except BenchError as error:
        parser.error(f"--project: {error}")
    if refusal:
        parser.error(f"--project: {refusal}")


def preflight(run, engine, port, tools=()):
    """What a benchmark that starts approaches through the run script checks before it starts
    anything, each failure one BenchError line: the run script is there and executable, the
    tools are installed, the engine answers, and the published port is free."""
    program = shlex.split(run)[0] if isinstance(run, str) else run[0]
    if not os.access(program, os.X_OK):
        raise BenchError(f"run script {program} is missing or not executable (--run)")
    for tool in (*tools, engine):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} is not installed")
    try:
        done = subprocess.run([engine, "info"], capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        raise BenchError(f"{engine} does not answer: `{engine} info` took over 60 s") from None
    if done.returncode != 0:
        last = (done.stderr or done.stdout).strip().splitlines()
        raise BenchError(
            f"{engine} does not answer: `{engine} info` exited {done.returncode}"
            + (f": {last[-1]}" if last else "")
        )
    refuse_busy_port(port)


def refuse_busy_port(port):
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            raise BenchError(f"port {port} is in use; pick another with --port") from None


def parse_names(text):
    """`KIND NAME` lines of --print-names -> {'image': [...], 'container': [...], 'network': [...]},
    each list in the order printed (containers in start order)."""
    found = {"image": [], "container": [], "network": []}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split()
        if len(parts) != 2 or parts[0] not in found:
            raise ValueError(f"not a `KIND NAME` line of --print-names: {line!r}")
        found[parts[0]].append(parts[1])
    if not found["container"]:
        raise ValueError("--print-names named no container")
    return found


class Names:
    """What one approach is called under one project."""

    def __init__(self, approach, images, containers, network):
        self.approach = approach
        self.images = list(images)
        self.containers = list(containers)  # start order: the server's container first
        self.network = network

    @property
    def serving(self):
        """The container that publishes the server's port."""
        return self.containers[0]

    @property
    def client(self):
        """The container the client runs in (the only one, except for separate)."""
        return self.containers[-1]


class RunScript:
    def __init__(self, command, engine, project, spec, tool="bench"):
        self.command = shlex.split(command) if isinstance(command, str) else list(command)
        self.engine = engine
        self.project = project
        self.spec = spec  # a pairspec.Spec
        self.tool = tool

    def _base(self, approach):
        return [
            *self.command,
            approach,
            "--engine",
            self.engine,
            "--spec",
            self.spec.path,
            "--project",
            self.project,
        ]

    def names(self, approach):
        done = subprocess.run(
            [*self.command, approach, "--spec", self.spec.path, "--project", self.project, "--print-names"],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise BenchError(
                f"{approach}: `{shlex.join(done.args)}` exited {done.returncode}: "
                f"{done.stderr.strip()[-400:]}"
            )
        try:
            found = parse_names(done.stdout)
        except ValueError as error:
            raise BenchError(f"{approach}: {error}") from None
        network = found["network"][0] if found["network"] else None
        return Names(approach, found["image"], found["container"], network)

    def role(self, name):
        """A container's name without the project, under the spec's name: duet-server,
        duet-client (stable across runs and projects)."""
        prefix = self.project + "-"
        return self.spec.name + "-" + name[len(prefix) :] if name.startswith(prefix) else name

    def start_command(self, approach, port, image_dir=None):
        """The detached start. An empty --image-dir also overrides a DUET_IMAGE_DIR that a
        wrapper (the Nix app) exports, so a timed start never loads images."""
        return [*self._base(approach), "--port", str(port), "--detach", f"--image-dir={image_dir or ''}"]

    def start(self, approach, port, image_dir=None, timeout=300):
        command = self.start_command(approach, port, image_dir)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError(
                f"`{shlex.join(command)}` exited {done.returncode}:\n"
                f"{(done.stderr + done.stdout).strip()[-1500:]}"
            )
        return done

    def stop(self, approach, timeout=120):
        command = [*self._base(approach), "--stop"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError(
                f"`{shlex.join(command)}` exited {done.returncode}: "
                f"{(done.stderr or done.stdout).strip()[-800:]}"
            )
