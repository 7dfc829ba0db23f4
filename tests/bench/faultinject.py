"""Fault injection for the faults benchmark: how each fault is done to each approach (which
command, which process, from the engine or from the host)."""

import os
import shlex
import signal
import subprocess
import time

from benchlib import BenchError
import containers
import faultoom
from faultreplace import replacement_run_args

FAULTS = ("server-kill", "server-restart", "client-kill", "oom", "pid1-kill", "container-restart")


def sh(command, check=True, timeout=120):
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if check and done.returncode != 0:
        raise BenchError(
            f"`{shlex.join(command)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()[-600:]}"
        )
    return done


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
            raise BenchError(
                f"`supervisorctl status` lists no process of {program}:\n{status.stdout.strip()}"
            )
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
        """The server (one of its processes, if several) OOM-killed in a memory cgroup of its
        own (faultoom.provoke)."""
        if self.kind == "supervisord":  # one of the program's processes, if several
            pid = min(self.host_pids(self.names.serving, self.comms[0]), default=None)
            if pid is None:
                raise BenchError(f"no {self.comms[0]} in {self.names.serving}")
        else:
            pid = self.one_pid(self.names.serving, self.comms[0])
        args = self.bench.args
        kills = faultoom.provoke(
            pid, self.comms[0], self.bench.url, args.oom_limit_kib, args.oom_connections, args.oom_burst
        )
        return {"oom_kills": kills}

    def pid1_kill(self):
        for container in self.names.containers:
            os.kill(self.info(container)["State"]["Pid"], signal.SIGKILL)
        return {}

    def container_restart(self):
        sh([self.engine, "restart", *self.names.containers])
        return {}
