"""The benchmarks' handle on units/run.sh and the pair spec: what an approach is called
under a project name, starting it detached, stopping it, and what the spec says about the
pair (units, programs, executables, port, log lines).

Every benchmark run uses a project name of its own (`run.sh --project NAME`), so its
containers and network never collide with anyone else's on the same engine. The names come
from `run.sh APPROACH --spec FILE --project NAME --print-names`, never from a table here;
everything else about the pair from the spec itself (units/run/pairspec.py).

A run script without `--spec`/`--project`/`--print-names` (an older units/run.sh, which
knows duet alone) still works: the benchmarks then fall back to the names such a script
uses (SPECNAME-systemd, SPECNAME-server, network SPECNAME, ...) and say so once; two runs on
one engine then cannot overlap.
"""

import os
import re
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
APPROACHES = ("systemd", "supervisord", "separate")
KEYS = {"systemd": ("systemd",), "supervisord": ("supervisord",), "separate": ("server", "client")}


def add_spec_argument(parser):
    parser.add_argument("--spec", default=DEFAULT_SPEC,
                        help="the pair spec, given to the run script as --spec (default units/pair.json)")


def load_spec(parser, path):
    """The validated spec, or parser.error with pairspec's one line."""
    try:
        return pairspec.load(path)
    except pairspec.SpecError as error:
        parser.error(f"--spec: {error}")


def check_project(parser, project):
    """parser.error unless `project` can name a benchmark's run (--project)."""
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", project):
        parser.error("--project: letters, digits, _ . - (at least 2 characters)")


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
        raise BenchError(f"{engine} does not answer: `{engine} info` exited {done.returncode}"
                         + (f": {last[-1]}" if last else ""))
    refuse_busy_port(port)


def refuse_busy_port(port):
    with socket.socket() as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            raise BenchError(f"port {port} is in use; pick another with --port") from None


def fixed_names(spec, approach):
    """The names an older run.sh (no --project) uses: images, containers in start order, network."""
    keys = KEYS[approach]
    return ([spec.image_ref(key) for key in keys], [spec.image_name(key) for key in keys],
            spec.name if approach == "separate" else None)


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
        self.has_project = None  # learnt from the first --print-names

    def _base(self, approach):
        base = [*self.command, approach, "--engine", self.engine]
        if self.has_project is not False:
            base += ["--spec", self.spec.path, "--project", self.project]
        return base

    def names(self, approach):
        done = subprocess.run([*self.command, approach, "--spec", self.spec.path, "--project", self.project,
                               "--print-names"], capture_output=True, text=True, timeout=60)
        if done.returncode == 0:
            self.has_project = True
            try:
                found = parse_names(done.stdout)
            except ValueError as error:
                raise BenchError(f"{approach}: {error}") from None
            network = found["network"][0] if found["network"] else None
            return Names(approach, found["image"], found["container"], network)
        if not re.search(r"unknown (argument|option): --(spec|project)", done.stderr):
            raise BenchError(f"{approach}: `{shlex.join(done.args)}` exited {done.returncode}: "
                             f"{done.stderr.strip()[-400:]}")
        if self.has_project is None:
            print(f"{self.tool}: {self.command[-1]} has no --spec/--project/--print-names: using its fixed "
                  f"names ({self.spec.name}-*); no other run may use this engine meanwhile", file=sys.stderr)
        self.has_project = False
        images, containers, network = fixed_names(self.spec, approach)
        return Names(approach, images, containers, network)

    def role(self, name):
        """A container's name without the project, under the spec's name: duet-server,
        duet-client (stable across runs and projects)."""
        project = self.project if self.has_project else self.spec.name
        return self.spec.name + name[len(project):] if name.startswith(project + "-") else name

    def start_command(self, approach, port, image_dir=None):
        """The detached start. An empty --image-dir also overrides a DUET_IMAGE_DIR that a
        wrapper (the Nix app) exports, so a timed start never loads images."""
        return [*self._base(approach), "--port", str(port), "--detach", f"--image-dir={image_dir or ''}"]

    def start(self, approach, port, image_dir=None, timeout=300):
        command = self.start_command(approach, port, image_dir)
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError(f"`{shlex.join(command)}` exited {done.returncode}:\n"
                             f"{(done.stderr + done.stdout).strip()[-1500:]}")
        return done

    def stop(self, approach, timeout=120):
        command = [*self._base(approach), "--stop"]
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
        if done.returncode != 0:
            raise BenchError(f"`{shlex.join(command)}` exited {done.returncode}: "
                             f"{(done.stderr or done.stdout).strip()[-800:]}")
