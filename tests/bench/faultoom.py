"""The OOM/cgroup plumbing of the faults benchmark's oom fault: a process moved alone into a
memory cgroup made from the host with a limit below its working set, a burst of connections
that makes it allocate past it, and the proof that the kernel OOM-killed it (the cgroup's
oom_kill count, or the kernel log's line)."""

import os
import re
import subprocess
import sys
import time

from benchlib import BenchError
import containers

OOM_CGROUP = "duet-faults-oom"


def provoke(pid, comm, url, limit_kib, connections, burst_s):
    """Moves PID (named comm) alone into a memory cgroup of limit_kib and sends a burst of
    `connections` to url for up to burst_s seconds; returns the OOM kills counted (>= 1) or
    raises when it was not OOM-killed. cgroup v1: a child of its memory cgroup; cgroup v2: a
    cgroup under the root (oom_cgroup_dir says why)."""
    version = "v2" if containers.cgroup_version() == "v2" else "v1"
    with open(f"/proc/{pid}/cgroup") as file:
        child = oom_cgroup_dir(version, file.read())
    if version == "v2":
        _enable_memory_controller(os.path.dirname(child))
    os.makedirs(child, exist_ok=True)
    kernel_log = KernelLog()
    try:
        limit = limit_kib * 1024
        for name, value in oom_limit_files(version, limit, os.listdir(child)):
            with open(os.path.join(child, name), "w") as file:
                file.write(value)
        with open(os.path.join(child, "cgroup.procs"), "w") as file:
            file.write(str(pid))
        burst = subprocess.Popen(
            ["wrk", "-t1", f"-c{connections}", f"-d{burst_s}s", "--timeout=2s", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
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
            raise BenchError(
                f"{comm} stayed alive in a {limit_kib} KiB memory cgroup "
                f"under {connections} connections: no OOM kill"
            )
        # A supervisor may remove the dead server's cgroup (and ours in it) before the
        # count is read: the kernel's own line names the killed PID as well.
        if kills < 1 and not kernel_log.oom_killed(pid):
            raise BenchError(
                f"{comm} (PID {pid}) died in the oom fault, but neither "
                f"{OOM_COUNT_FILE[version]} nor the kernel log shows an OOM kill"
            )
        return max(kills, 1)
    finally:
        kernel_log.close()
        _remove_cgroup(child)


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
