#!/usr/bin/env python3
"""Which approach keeps serving through faults: each approach started with units/run.sh under
a project name of its own, two steady request streams from the host through the published
port, and faults injected one at a time, each followed by a quiet spell, N rounds. The pair is
the one --spec describes (default units/pair.json, duet's): its units, program sections,
executables and the client's log line come from the spec; requests go to --path (default /).

Streams: a fresh connection per request at --rate per second, and one kept-alive connection
sending a request every --kept-interval. Faults (in this order each round):

  server-kill       SIGKILL of the server (systemctl kill / supervisorctl signal, of its first
                    process if the program is a group of several / kill of the server
                    container's PID 1 from the host)
  server-restart    a deploy's graceful restart (systemctl restart / supervisorctl restart, of
                    each process of the program in turn / the server container replaced by a
                    new one with the same settings)
  client-kill       SIGKILL of the client; its recovery is read from its own log (the
                    spec's client.logLine)
  oom               the server (one of its processes, if it has several) put alone in a
                    memory cgroup made from the host with a limit below its working set
                    under a burst of connections, so the kernel OOM-kills it (cgroup v1: a
                    child of its memory cgroup; v2: a cgroup of its own under the root)
  pid1-kill         SIGKILL of PID 1 of every container of the approach, from the host
  container-restart `ENGINE restart` of every container of the approach

Per approach and fault: requests sent, failed by kind (refused, reset, timeout, 5xx, other),
the longest gap without a successful answer, the time until serving again, p99 latency of the
window; per approach the availability (answered / sent) of the whole run. Writes faults.md,
faults.svg and faults.json to --out (default: outside the repository, printed).

Usage: tests/bench/faults.py [--rounds 3] [--engine docker|podman] [--spec FILE] [--faults a,b] [--out DIR]
"""

import argparse
import collections
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import (BenchError, RENDER_ERRORS, default_out_dir, loadavg, read_run,  # noqa: E402
                      last_line, summarize, then_clean_up, write_outputs)
import containers  # noqa: E402
import enginefacts  # noqa: E402
import faultstats  # noqa: E402
import loadgen  # noqa: E402
import runscript  # noqa: E402
import svgchart  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FAULTS = ("server-kill", "server-restart", "client-kill", "oom", "pid1-kill", "container-restart")
OOM_CGROUP = "duet-faults-oom"


def sh(command, check=True, timeout=120):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise BenchError(f"`{shlex.join(command)}` exited {done.returncode}: "
                         f"{(done.stderr or done.stdout).strip()[-600:]}")
    return done


def replacement_run_args(info):
    """`run` arguments that create a container like the inspected one (a deploy replacing
    it): name, image, and the settings units/run.sh gives a separate container, read from the
    container itself (not from a copy of run.sh's list): its labels (duet.run=<run id>, and
    the image's own, which are the same), ulimits (Podman's --ulimit flags), read-only root,
    capabilities, security options, restart policy, network and aliases, ports, mounts,
    memory limit, user and environment."""
    host, config = info["HostConfig"], info["Config"]
    args = ["run", "-d", "--name", info["Name"].lstrip("/")]
    for key, value in sorted((config.get("Labels") or {}).items()):
        args += ["--label", f"{key}={value}"]
    for limit in host.get("Ulimits") or []:
        # Podman names them RLIMIT_NOFILE, Docker nofile; both take `--ulimit nofile=S:H`.
        name = limit["Name"].lower()
        name = name[len("rlimit_"):] if name.startswith("rlimit_") else name
        args += ["--ulimit", f"{name}={limit['Soft']}:{limit['Hard']}"]
    if host.get("ReadonlyRootfs"):
        args.append("--read-only")
    for cap in host.get("CapDrop") or []:
        args += ["--cap-drop", cap]
    for cap in host.get("CapAdd") or []:
        args += ["--cap-add", cap]
    for option in host.get("SecurityOpt") or []:
        args += ["--security-opt", option]
    policy = host.get("RestartPolicy") or {}
    if policy.get("Name") not in (None, "", "no"):
        retries = policy.get("MaximumRetryCount") or 0
        args += ["--restart", policy["Name"] + (f":{retries}" if policy["Name"] == "on-failure" and retries else "")]
    network = user_network(info)
    if network:
        args += ["--network", network]
        endpoint = ((info.get("NetworkSettings") or {}).get("Networks") or {}).get(network) or {}
        for alias in endpoint.get("Aliases") or []:
            if alias not in (info["Id"][:12], info["Name"].lstrip("/")):  # the engine adds these
                args += ["--network-alias", alias]
    for port, bindings in sorted((host.get("PortBindings") or {}).items()):
        for binding in bindings or []:
            address = binding.get("HostIp") or ""
            args += ["-p", f"{address + ':' if address else ''}{binding['HostPort']}:{port}"]
    for bind in host.get("Binds") or []:
        args += ["-v", bind]
    for path, options in sorted((host.get("Tmpfs") or {}).items()):
        args += ["--tmpfs", f"{path}:{options}" if options else path]
    if host.get("Memory"):
        args += ["--memory", str(host["Memory"])]
    if config.get("User"):
        args += ["--user", config["User"]]
    for variable in config.get("Env") or []:
        args += ["-e", variable]
    args.append(config["Image"])
    return args


def user_network(info):
    """The network an inspected container is on when it is not the engine's default one, or
    None. Docker names it in HostConfig.NetworkMode; Podman puts "bridge" there for every
    bridge network, its own ones too, and names the network only in NetworkSettings.Networks."""
    mode = info["HostConfig"].get("NetworkMode")
    if mode and mode not in ("default", "bridge"):
        return mode
    networks = [name for name in ((info.get("NetworkSettings") or {}).get("Networks") or {})
                if name not in ("bridge", "podman")]
    return networks[0] if len(networks) == 1 else None


def program_processes(status_text, program):
    """supervisorctl's names of a program's processes in `supervisorctl status` output, in its
    order: PROG for a [program:PROG], PROG:PROG_00, PROG:PROG_01 ... for a group of several
    (an [fcgi-program:PROG] with numprocs). supervisorctl takes a group's bare name for no
    process, so each is named."""
    names = []
    for line in status_text.splitlines():
        fields = line.split()
        if fields and (fields[0] == program or fields[0].startswith(program + ":")):
            names.append(fields[0])
    return names


def client_back_from_log(log_text, since_epoch, client_ok):
    """Seconds from since_epoch to the first line matching client_ok (the client's logLine: a
    successful poll) in `ENGINE logs --timestamps` output, or None."""
    for line in log_text.splitlines():
        stamp, _, rest = line.partition(" ")
        if not client_ok.search(rest):
            continue
        try:
            when = containers.parse_timestamp(stamp)
        except ValueError:
            continue
        if when > since_epoch:
            return when - since_epoch
    return None


class Approach:
    """One approach up under the run script: its containers, and how each fault is done."""

    def __init__(self, bench, names):
        self.bench = bench
        self.engine = bench.engine
        self.names = names
        self.kind = names.approach
        spec = bench.spec
        self.units = (spec.server_unit, spec.client_unit)
        self.programs = (spec.server_program, spec.client_program)
        # The kernel's comm: the executable's name (a script's too), cut to 15 characters.
        self.comms = (spec.server[:15], spec.client[:15])

    def exec(self, *command, timeout=60):
        return sh([self.engine, "exec", self.names.serving, *command], timeout=timeout)

    def info(self, container):
        return containers.inspect(self.engine, container)

    def host_pids(self, container, process):
        """Host PIDs of the processes named `process` in the container (found through its
        memory cgroup, so PIDs inside systemd's or supervisord's tree count too)."""
        info = self.info(container)
        if not info["State"]["Running"]:
            raise BenchError(f"container {container} is not running")
        directory = containers.memory_cgroup_dir(info["State"]["Pid"], info["Id"])
        found = []
        for pid in containers.cgroup_pids(directory):
            try:
                with open(f"/proc/{pid}/comm") as file:
                    if file.read().strip() == process:
                        found.append(pid)
            except OSError:
                continue
        return found

    def one_pid(self, container, process):
        pids = self.host_pids(container, process)
        if len(pids) != 1:
            raise BenchError(f"expected one {process} in {container}, found {len(pids)}")
        return pids[0]

    def processes(self, program):
        """The program's processes, as supervisorctl names them (program_processes)."""
        # `status` exits non-zero while any process is not RUNNING: its output still counts.
        status = sh([self.engine, "exec", self.names.serving, "supervisorctl", "status"], check=False)
        names = program_processes(status.stdout, program)
        if not names:
            raise BenchError(f"`supervisorctl status` lists no process of {program}:\n{status.stdout.strip()}")
        return names

    # --- the faults: each returns extra figures (may be empty) -------------------------

    def server_kill(self):
        if self.kind == "systemd":
            self.exec("systemctl", "kill", "--signal=SIGKILL", self.units[0])
        elif self.kind == "supervisord":
            # One process, as a crash takes one; its twins, if any, keep serving.
            self.exec("supervisorctl", "signal", "KILL", self.processes(self.programs[0])[0])
        else:
            os.kill(self.one_pid(self.names.serving, self.comms[0]), signal.SIGKILL)
        return {}

    def server_restart(self):
        if self.kind == "systemd":
            self.exec("systemctl", "restart", self.units[0])
        elif self.kind == "supervisord":
            # One at a time, as a deploy would: one `restart` of several names stops them
            # all before starting any.
            for name in self.processes(self.programs[0]):
                self.exec("supervisorctl", "restart", name)
        else:
            info = self.info(self.names.serving)
            sh([self.engine, "stop", self.names.serving])
            sh([self.engine, "rm", self.names.serving])
            sh([self.engine, *replacement_run_args(info)])
        return {}

    def client_kill(self):
        """The client's recovery is read later from its log (client_back): the kill time
        goes along as `_client_killed`."""
        before = time.time()
        if self.kind == "systemd":
            self.exec("systemctl", "kill", "--signal=SIGKILL", self.units[1])
        elif self.kind == "supervisord":
            self.exec("supervisorctl", "signal", "KILL", *self.processes(self.programs[1]))
        else:
            os.kill(self.one_pid(self.names.client, self.comms[1]), signal.SIGKILL)
        return {"_client_killed": before}

    def client_back(self, killed):
        """Seconds from the kill to the client's first successful poll, from its own log."""
        since = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(killed - 1)) + "Z"
        end = time.monotonic() + self.bench.args.fault_timeout
        while time.monotonic() < end:
            done = sh([self.engine, "logs", "--timestamps", "--since", since, self.names.client], check=False)
            back = client_back_from_log(done.stdout + "\n" + done.stderr, killed, self.bench.client_ok)
            if back is not None:
                return back
            time.sleep(0.2)
        return None

    def oom(self):
        """The server alone in a memory cgroup of its own with a small limit; a burst of
        connections makes it allocate past it and the kernel OOM-kills it. cgroup v1: a child
        of its memory cgroup; cgroup v2: a cgroup under the root (oom_cgroup_dir says why)."""
        version = "v2" if containers.cgroup_version() == "v2" else "v1"
        if self.kind == "supervisord":  # one of the program's processes, if several
            pid = min(self.host_pids(self.names.serving, self.comms[0]), default=None)
            if pid is None:
                raise BenchError(f"no {self.comms[0]} in {self.names.serving}")
        else:
            pid = self.one_pid(self.names.serving, self.comms[0])
        with open(f"/proc/{pid}/cgroup") as file:
            child = oom_cgroup_dir(version, file.read())
        if version == "v2":
            _enable_memory_controller(os.path.dirname(child))
        os.makedirs(child, exist_ok=True)
        kernel_log = KernelLog()
        try:
            limit = self.bench.args.oom_limit_kib * 1024
            for name, value in oom_limit_files(version, limit, os.listdir(child)):
                with open(os.path.join(child, name), "w") as file:
                    file.write(value)
            with open(os.path.join(child, "cgroup.procs"), "w") as file:
                file.write(str(pid))
            burst_s = self.bench.args.oom_burst
            burst = subprocess.Popen(
                ["wrk", "-t1", f"-c{self.bench.args.oom_connections}", f"-d{burst_s}s", "--timeout=2s",
                 self.bench.url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            killed, kills = False, 0
            end = time.monotonic() + burst_s
            while time.monotonic() < end and not killed:
                killed = not os.path.exists(f"/proc/{pid}") or _zombie(pid)
                # Read while it exists: on v1 the engine removes a dead container's cgroups.
                kills = max(kills, _oom_kills(child, version))
                time.sleep(0.01)
            kills = max(kills, _oom_kills(child, version))
            burst.terminate()
            burst.wait(10)
            if not killed:
                raise BenchError(f"{self.comms[0]} stayed alive in a {limit // 1024} KiB memory cgroup "
                                 f"under {self.bench.args.oom_connections} connections: no OOM kill")
            # A supervisor may remove the dead server's cgroup (and ours in it) before the
            # count is read: the kernel's own line names the killed PID as well.
            if kills < 1 and not kernel_log.oom_killed(pid):
                raise BenchError(f"{self.comms[0]} (PID {pid}) died in the oom fault, but neither "
                                 f"{OOM_COUNT_FILE[version]} nor the kernel log shows an OOM kill")
            return {"oom_kills": max(kills, 1)}
        finally:
            kernel_log.close()
            _remove_cgroup(child)

    def pid1_kill(self):
        for container in self.names.containers:
            os.kill(self.info(container)["State"]["Pid"], signal.SIGKILL)
        return {}

    def container_restart(self):
        sh([self.engine, "restart", *self.names.containers])
        return {}


class KernelLog:
    """The kernel log from now on (/dev/kmsg), to find its OOM-kill lines."""

    def __init__(self):
        self.fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
        os.lseek(self.fd, 0, os.SEEK_END)

    def oom_killed(self, pid):
        pattern = re.compile(rf"out of memory: Killed process {pid}\b|oom-kill:.*,pid={pid},")
        while True:
            try:
                record = os.read(self.fd, 8192).decode(errors="replace")
            except BlockingIOError:
                return False
            except OSError:  # EPIPE: records were overwritten meanwhile; read on
                continue
            if pattern.search(record):
                return True

    def close(self):
        os.close(self.fd)


def _zombie(pid):
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except OSError:
        return True


OOM_COUNT_FILE = {"v1": "memory.oom_control", "v2": "memory.events"}


def oom_cgroup_dir(version, proc_cgroup, cgroup_root=containers.CGROUP_ROOT):
    """The memory cgroup the oom fault moves the server into, from its /proc/PID/cgroup.

    v1: a child of its own memory cgroup, inside the container's. v2: a cgroup of its own
    directly under the root. A child of the container's cgroup would not do on v2: that
    cgroup holds processes (supervisord's, systemd's, or the server itself), and the
    no-internal-process rule keeps a cgroup with processes from enabling the memory
    controller for its children; the root is exempt."""
    if version == "v2":
        return os.path.join(cgroup_root, OOM_CGROUP)
    for line in proc_cgroup.splitlines():
        _hierarchy, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            return os.path.join(cgroup_root, "memory", group.lstrip("/"), OOM_CGROUP)
    raise BenchError("/proc/PID/cgroup of the server names no v1 memory cgroup")


def oom_limit_files(version, limit, existing):
    """[(file, value)] that set the oom cgroup's limit, in the order to write them; `existing`
    lists the cgroup's files. v2 also turns swap off where the kernel accounts it
    (memory.swap.max), so the server cannot page out instead of being killed."""
    if version == "v2":
        files = [("memory.max", str(limit))]
        if "memory.swap.max" in existing:
            files.append(("memory.swap.max", "0"))
        return files
    return [("memory.limit_in_bytes", str(limit))]


def oom_kill_count(text):
    """The oom_kill count of a v1 memory.oom_control or a v2 memory.events (both `key value`
    lines); 0 when it has none."""
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "oom_kill":
            return int(parts[1])
    return 0


def _oom_kills(cgroup, version):
    """The oom_kill count of the oom cgroup (0 once it is gone)."""
    try:
        with open(os.path.join(cgroup, OOM_COUNT_FILE[version])) as file:
            return oom_kill_count(file.read())
    except OSError:
        return 0


def _enable_memory_controller(parent):
    """The memory controller on for the children of a v2 cgroup (systemd usually has it on
    at the root already)."""
    path = os.path.join(parent, "cgroup.subtree_control")
    with open(path) as file:
        if "memory" in file.read().split():
            return
    try:
        with open(path, "w") as file:
            file.write("+memory")
    except OSError as error:
        raise BenchError(f"cannot enable the memory controller in {path}: {error}") from None


def _remove_cgroup(path):
    """rmdir once the cgroup is empty (a killed process leaves it after it is reaped)."""
    end = time.monotonic() + 10
    while os.path.isdir(path):
        try:
            os.rmdir(path)
        except OSError:
            if time.monotonic() > end:
                print(f"faults: warning: cannot remove {path}", file=sys.stderr)
                return
            time.sleep(0.05)


class Bench:
    def __init__(self, args, spec):
        self.args = args
        self.spec = spec
        self.engine = args.engine
        self.url = f"http://127.0.0.1:{args.port}{args.path}"
        self.client_ok = re.compile(spec.client_log_line)
        self.run = runscript.RunScript(args.run, args.engine, args.project, spec, tool="faults")

    def wait_serving(self, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            done = subprocess.run(["curl", "-fs", "-o", "/dev/null", "--max-time", "1", self.url])
            if done.returncode == 0:
                return
            time.sleep(0.1)
        raise BenchError(f"no 200 on {self.url} within {timeout:.0f} s")

    def session(self, approach):
        """Starts the approach, runs every round of faults under load, stops it."""
        names = self.run.names(approach)
        print(f"{approach}: starting ({', '.join(names.containers)})", flush=True)
        target = Approach(self, names)
        windows, repairs = [], []
        load = {}  # the streams while they run

        def rounds_under_load():
            self.run.start(approach, self.args.port, self.args.image_dir)
            self.wait_serving(30)
            images = enginefacts.image_ids(self.engine, names.images)
            versions = enginefacts.versions_in_image(self.engine, approach, names.serving)
            streams = load["streams"] = loadgen.Streams(
                "127.0.0.1", self.args.port, rate=self.args.rate, kept_interval=self.args.kept_interval,
                timeout=self.args.timeout, path=self.args.path).start()
            time.sleep(self.args.quiet)
            streams.check()
            if not streams.events:
                raise BenchError(f"the load generator recorded no request in {self.args.quiet:g} s")
            baseline_end = time.monotonic()
            for index in range(self.args.rounds):
                for fault in self.args.faults:
                    windows.append(self.inject(target, streams, fault, index, repairs))
            events = streams.stop()
            streams.check()
            if enginefacts.image_ids(self.engine, names.images) != images:
                # A replaced server container or a repair started whatever the names meant then.
                raise BenchError("its images changed during the run (rebuilt or retagged meanwhile): "
                                 "the rounds did not all measure the same images")
            return images, versions, baseline_end, events, streams.skipped

        def stop():
            if "streams" in load:
                load.pop("streams").stop()
            self.run.stop(approach)

        # A failing stop must not hide why the rounds failed: both are named, that one first.
        images, versions, baseline_end, events, streams_skipped = then_clean_up(None, rounds_under_load, stop)
        rounds = []
        for window in windows:
            # Serving again is counted from the injection's start, not from its command's
            # return: `ENGINE exec` alone can take seconds on a loaded host.
            figures = faultstats.window_figures(events, window["start"], window["start"], window["end"])
            figures.update(window["extra"], fault=window["fault"], round=window["round"],
                           inject_s=window["injected"] - window["start"],
                           window_s=window["end"] - window["start"], repaired=window["repaired"])
            rounds.append(figures)
        baseline = faultstats.window_figures(events, events[0].start if events else 0, 0, baseline_end)
        ok, sent = faultstats.availability(events, repairs)
        return {"names": names.containers, "images": images, "versions": versions,
                "windows": rounds, "baseline_p99_ms": baseline["p99_ms"],
                "skipped": streams_skipped,
                "ok": ok, "sent": sent, "repairs": len(repairs), "loadavg": loadavg()}

    def inject(self, target, streams, fault, index, repairs):
        # Only the requests that end from now on can belong to this window: reading just
        # those keeps this loop from starving the load thread as the run's record grows.
        first = len(streams.events)
        start = time.monotonic()
        extra = getattr(target, fault.replace("-", "_"))()
        injected = time.monotonic()
        deadline = start + self.args.fault_timeout
        repaired = False
        while not faultstats.recovered(streams.since(first), injected, start, time.monotonic(), self.args.quiet):
            streams.check()  # a dead load thread records nothing: never wait for it, never count it
            if time.monotonic() > deadline:
                # Not back on its own: the benchmark brings it back, outside every figure.
                recent = collections.Counter(e.outcome for e in streams.since(first)
                                             if e.start > time.monotonic() - 5)
                print(f"  {fault}: not serving again within {self.args.fault_timeout:.0f} s (last 5 s: "
                      f"{dict(recent)}); restarting the approach", flush=True)
                end = time.monotonic()
                self.run.stop(target.kind)
                self.run.start(target.kind, self.args.port, None)
                self.wait_serving(30)
                repairs.append((end, time.monotonic()))
                extra.pop("_client_killed", None)
                repaired = True
                time.sleep(self.args.quiet)
                return {"fault": fault, "round": index + 1, "start": start, "injected": injected,
                        "end": end, "extra": extra, "repaired": repaired}
            time.sleep(0.2)
        end = time.monotonic()
        streams.check()
        if "_client_killed" in extra:
            extra["client_back_s"] = target.client_back(extra.pop("_client_killed"))
            if extra["client_back_s"] is None:
                print(f"  round {index + 1} {fault}: the client logged no successful poll within "
                      f"{self.args.fault_timeout:g} s of its kill (counted as never back)", flush=True)
        window = faultstats.window_figures(streams.since(first), start, start, end)
        failed = sum(window["failed"].values())
        client = extra.get("client_back_s")
        print(f"  round {index + 1} {fault:<17} sent {window['sent']:>5}  failed {failed:>4}  "
              f"gap {window['longest_gap_s']:.2f} s  back {window['back_s']:.2f} s"
              + (f"  client back {client:.2f} s" if client is not None else ""), flush=True)
        return {"fault": fault, "round": index + 1, "start": start, "injected": injected, "end": end,
                "extra": extra, "repaired": repaired}


# --- output ---------------------------------------------------------------------------

FIGURES = [  # (key, title, unit, scale) of the chart panels, per fault
    ("longest_gap_s", "longest gap without a 200", "s", 1.0),
    ("back_s", "time until serving again", "s", 1.0),
    ("failed", "failed requests", "per round", 1.0),
    ("p99_ms", "p99 latency", "ms", 1.0),
]


def summarize_run(results):
    summary = {}
    for approach, run in results.items():
        by_fault = {}
        for window in run["windows"]:
            by_fault.setdefault(window["fault"], []).append(window)
        summary[approach] = {fault: faultstats.summarize_fault(rounds) for fault, rounds in by_fault.items()}
    return summary


def _range(figure, scale=1.0, digits=2):
    if figure is None:
        return "n/a"
    median, low, high = (figure[k] * scale for k in ("median", "min", "max"))
    if low == high:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def client_cell(figures):
    """The client's time to poll again over the rounds, and the rounds it never did:
    "0.39", "0.39; 1 round never", "n/a; 3 rounds never"."""
    cell = _range(figures.get("client_back_s"))
    never = figures.get("client_not_back", 0)
    if never:
        cell += f"; {never} round{'s' if never > 1 else ''} never"
    return cell


def markdown(run):
    args = run["args"]
    results = run["results"]
    summary = summarize_run(results)
    lines = [f"{args['rounds']} round(s) per approach on {run['facts']['engine']}. Streams from the host "
             f"through the published port: a fresh connection per request at {args['rate']:g}/s and "
             f"one kept-alive connection every {args['kept_interval'] * 1000:g} ms; request timeout "
             f"{args['timeout']:g} s. A fault's window runs from its injection until the approach "
             f"has served {args['quiet']:g} s without a failure. Counts are totals over the rounds; "
             "times are the median (min–max) of the rounds.", "",
             "| approach | fault | sent | failed | refused | reset | timeout | 5xx | other | "
             "longest gap (s) | serving again (s) | p99 (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for approach, faults in summary.items():
        for fault, figures in faults.items():
            failed = figures["failed"]
            back = _range(figures["back_s"])
            if figures["not_back"]:
                back += f", {figures['not_back']} round(s) not back within {args['fault_timeout']:g} s"
            if fault == "client-kill":
                back += f"; client polling again: {client_cell(figures)}"
            lines.append(f"| {approach} | {fault} | {figures['sent']} | {sum(failed.values())} | "
                         + " | ".join(str(failed[k]) for k in loadgen.FAILURE_KINDS)
                         + f" | {_range(figures['longest_gap_s'])} | {back} | {_range(figures['p99_ms'], digits=1)} |")
    lines += ["", "| approach | availability (answered / sent, whole run) | p99 before the faults (ms) |",
              "|---|---|---|"]
    for approach, result in results.items():
        share = result["ok"] / result["sent"] if result["sent"] else 0.0
        note = f"; {result['repairs']} restart(s) by the benchmark left out" if result["repairs"] else ""
        if result.get("skipped"):
            note += f"; {result['skipped']} fresh requests not sent: the load generator was starved of CPU"
        baseline = result["baseline_p99_ms"]
        lines.append(f"| {approach} | {share * 100:.3f} % ({result['ok']} / {result['sent']}{note}) | "
                     f"{'n/a' if baseline is None else f'{baseline:.1f}'} |")
    lines += ["", "Host: " + ", ".join(f"{k} {v}" for k, v in run["facts"].items()), ""]
    return "\n".join(lines)


def failed_per_round(result, fault):
    """Median/min/max over the rounds of one approach's failed requests in a fault: the same
    median as the table's figures (benchlib.summarize)."""
    return summarize([sum(w["failed"].values()) for w in result["windows"] if w["fault"] == fault])


def svg(run):
    summary = summarize_run(run["results"])
    approaches = list(run["results"])
    faults = [f for f in FAULTS if any(f in summary[a] for a in approaches)]
    panels = []
    for key, title, unit, scale in FIGURES:
        for fault in faults:
            series = {}
            for approach in approaches:
                figures = summary[approach].get(fault)
                if figures is None:
                    continue
                if key == "failed":
                    series[approach] = failed_per_round(run["results"][approach], fault)
                elif figures[key] is not None:
                    series[approach] = {k: figures[key][k] * scale for k in ("median", "min", "max")}
            panels.append((f"{fault}: {title}", unit, series))
    series = {a: {k: 100.0 * r["ok"] / r["sent"] for k in ("median", "min", "max")}
              for a, r in run["results"].items() if r["sent"]}
    panels.append(("availability, whole run", "% answered", series))
    footnote = (f"bars: median of {run['args']['rounds']} round(s); whiskers: min-max. "
                f"{run['facts']['engine']}, cgroup {run['facts']['cgroup']}, {run['facts']['cpus']} CPUs")
    # faults.json files from before the spec measured duet and do not say so.
    return svgchart.chart(f"{run.get('pair', 'duet')}: serving through faults", panels, approaches,
                          columns=len(faults), footnote=footnote)


def render(path, out):
    """Writes faults.md and faults.svg from a faults.json; returns the table."""
    run = read_run(path, "faults.json", ("facts", "args", "results"))
    try:
        table, chart = markdown(run), svg(run)
    except RENDER_ERRORS as error:
        raise BenchError(f"{path}: not a faults.json of this tool: {type(error).__name__}: {error}") from None
    write_outputs(out, {"faults.md": table, "faults.svg": chart})
    return table


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engine", choices=["docker", "podman"], default="docker")
    parser.add_argument("--approaches", default=",".join(runscript.APPROACHES))
    parser.add_argument("--faults", default=",".join(FAULTS), help=f"subset of {','.join(FAULTS)}")
    parser.add_argument("--port", type=int, default=28081, help="published port (default 28081)")
    parser.add_argument("--project", default=f"faults{os.getpid()}",
                        help="run.sh project name: prefixes every container and network")
    parser.add_argument("--image-dir", help="image tarballs for the run script to load at start")
    parser.add_argument("--rate", type=float, default=200.0, help="fresh connections per second")
    parser.add_argument("--kept-interval", type=float, default=0.02,
                        help="seconds between requests on the kept-alive connection")
    parser.add_argument("--timeout", type=float, default=2.0, help="seconds before a request counts as timed out")
    parser.add_argument("--quiet", type=float, default=3.0,
                        help="seconds without a failure that end a fault's window (> --timeout)")
    parser.add_argument("--fault-timeout", type=float, default=30.0,
                        help="seconds to wait for serving again before the benchmark restarts the approach")
    parser.add_argument("--oom-limit-kib", type=int, default=1024,
                        help="memory limit of the server's own cgroup in the oom fault")
    parser.add_argument("--oom-connections", type=int, default=500,
                        help="connections of the burst that pushes the server past that limit")
    parser.add_argument("--oom-burst", type=int, default=5,
                        help="seconds the burst lasts and the oom fault waits for the kill")
    parser.add_argument("--run", default=os.path.join(REPO, "units", "run.sh"), help="run script command")
    runscript.add_spec_argument(parser)
    parser.add_argument("--path", default="/", help="the HTTP path the streams request (default /; the "
                        "spec's health path answers 200 in any pair)")
    parser.add_argument("--out", help="directory for faults.md/.svg/.json (default: outside the repository)")
    parser.add_argument("--render", metavar="JSON", help="only redraw faults.md and faults.svg from a faults.json")
    args = parser.parse_args(argv)
    if args.render:
        return args
    args.approaches = args.approaches.split(",")
    args.faults = args.faults.split(",")
    if any(a not in runscript.APPROACHES for a in args.approaches) or len(set(args.approaches)) != len(args.approaches):
        parser.error(f"--approaches takes a comma-separated subset of {','.join(runscript.APPROACHES)}")
    if any(f not in FAULTS for f in args.faults) or len(set(args.faults)) != len(args.faults):
        parser.error(f"--faults takes a comma-separated subset of {','.join(FAULTS)}")
    if args.rounds < 1 or args.rate <= 0 or args.kept_interval <= 0 or args.timeout <= 0 or args.oom_burst < 1:
        parser.error("--rounds must be >= 1; --rate, --kept-interval and --timeout > 0; --oom-burst >= 1")
    if args.fault_timeout <= 0 or args.oom_limit_kib <= 0 or args.oom_connections <= 0:
        parser.error("--fault-timeout, --oom-limit-kib and --oom-connections must be > 0")
    if not 1 <= args.port <= 65535:
        parser.error("--port must be 1-65535")
    if args.quiet <= args.timeout:
        parser.error("--quiet must be longer than --timeout (a request in flight could still fail)")
    runscript.check_project(parser, args.project)
    if not args.path.startswith("/"):
        parser.error("--path must start with /")
    args.spec_loaded = runscript.load_spec(parser, args.spec)
    return args


def main(argv=None):
    args = parse_args(argv)
    if args.render:
        print(render(args.render, args.out or os.path.dirname(os.path.abspath(args.render))))
        return
    if os.geteuid() != 0:
        raise BenchError("needs root: it kills host PIDs, makes memory cgroups and reads /dev/kmsg")
    runscript.preflight(args.run, args.engine, args.port, tools=("wrk", "curl"))
    spec = args.spec_loaded
    bench = Bench(args, spec)
    print(f"faults: {', '.join(args.approaches)}; {args.rounds} round(s) of {', '.join(args.faults)}; "
          f"{args.engine}; project {args.project}; loadavg {loadavg()}", flush=True)
    results = {}
    for approach in args.approaches:
        try:
            results[approach] = bench.session(approach)
        except (BenchError, OSError, subprocess.SubprocessError) as error:
            raise BenchError(f"{approach}: {last_line(error)}") from None
    out = args.out or default_out_dir("faults")
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "faults.json")
    saved = {k: v for k, v in vars(args).items() if k not in ("render", "spec_loaded")}
    # As compare.json: the image IDs measured, and the supervisors' versions among the facts.
    images, versions = {}, {}
    for result in results.values():
        images.update(result.pop("images"))
        versions.update(result.pop("versions"))
    facts = enginefacts.host_facts(args.engine, versions)
    with open(path, "w") as file:
        json.dump({"pair": spec.name, "facts": facts, "images": images, "args": saved, "results": results},
                  file, indent=1)
    print()
    print(render(path, out))
    print(f"wrote {out}/faults.md, faults.svg, faults.json")


if __name__ == "__main__":
    try:
        main()
    except BenchError as error:
        print(f"faults: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
