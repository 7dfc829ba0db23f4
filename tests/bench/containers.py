"""Reading a running container from the host: its cgroup memory and the RSS of each process
in it. Works for Docker and Podman on cgroup v1 and v2, since it goes through /proc/PID/cgroup
of the container's init process rather than an engine-specific path."""

import json
import os
import re
import select
import subprocess
import time
from datetime import datetime, timezone

from benchlib import BenchError

CGROUP_ROOT = "/sys/fs/cgroup"


def engine_json(engine, *args):
    done = subprocess.run([engine, *args], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise BenchError(f"{engine} {' '.join(args)}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def inspect(engine, name):
    data = engine_json(engine, "inspect", "--type", "container", name)
    if not data:
        raise BenchError(f"{engine} inspect {name}: no such container")
    return data[0]


class StartWatch:
    """Waits for the engine's start event of a container that may not exist yet.

    The benchmarks probe a published port only from this event on. A probe sent before the
    container exists makes the host ask for the container's address (ARP) while nothing
    answers, and the kernel asks again only every retrans_time_ms (1 s by default): the
    first 200 then comes up to 1 s after the server is listening, whatever the approach."""

    def __init__(self, engine, name):
        # --since: the event counts even if it comes before the stream is connected.
        self.process = subprocess.Popen(
            [
                engine,
                "events",
                "--since",
                f"{time.time():.3f}",
                "--filter",
                f"container={name}",
                "--filter",
                "event=start",
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.name = name

    def wait(self, deadline, gave_up=lambda: False):
        """True once the container has started; False at the monotonic deadline or as soon as
        gave_up() is true."""
        while time.monotonic() < deadline and not gave_up():
            ready, _, _ = select.select([self.process.stdout], [], [], 0.05)
            if ready:
                if self.process.stdout.readline():
                    return True
                raise BenchError(f"`events` for {self.name} ended: {self.process.stderr.read().strip()}")
        return False

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.process.kill()
        self.process.wait()
        self.process.stdout.close()
        self.process.stderr.close()


def parse_timestamp(text):
    """Engine timestamps (RFC 3339 with up to nanoseconds, Z or offset) -> epoch seconds."""
    match = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?\s*(Z|[+-]\d\d:?\d\d)?", text)
    if not match:
        raise ValueError(f"not a timestamp: {text!r}")
    day, clock, fraction, zone = match.groups()
    stamp = datetime.fromisoformat(f"{day}T{clock}")
    if zone in (None, "Z"):
        stamp = stamp.replace(tzinfo=timezone.utc)
    else:
        sign = 1 if zone[0] == "+" else -1
        hours, minutes = int(zone[1:3]), int(zone[-2:])
        stamp = stamp.replace(tzinfo=timezone.utc)
        stamp = datetime.fromtimestamp(
            stamp.timestamp() - sign * (hours * 3600 + minutes * 60), tz=timezone.utc
        )
    return stamp.timestamp() + (float(fraction) if fraction else 0.0)


def cgroup_version():
    if os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers")):
        return "v2"
    if os.path.isdir(os.path.join(CGROUP_ROOT, "unified")):
        return "v1 (hybrid)"
    return "v1"


def memory_cgroup_dir(pid, container_id, proc_root="/proc", cgroup_root=CGROUP_ROOT):
    """The host directory of the container's memory cgroup, found from its init PID.

    Systemd inside a container may move itself into a child group (init.scope): the
    container's group is the ancestor whose name carries the container ID."""
    with open(f"{proc_root}/{pid}/cgroup") as file:
        lines = file.read().splitlines()
    path, unified = None, None
    for line in lines:
        hierarchy, controllers, group = line.split(":", 2)
        if "memory" in controllers.split(","):
            path = os.path.join(cgroup_root, "memory", group.lstrip("/"))
        elif hierarchy == "0" and controllers == "":
            unified = group
    if path is None:
        if unified is None:
            raise BenchError(f"/proc/{pid}/cgroup names no memory cgroup")
        path = os.path.join(cgroup_root, unified.lstrip("/"))
    parts = path.split("/")
    for index in range(len(parts) - 1, -1, -1):
        if container_id[:12] in parts[index]:
            return "/".join(parts[: index + 1])
    return path


def _read_stat(path):
    stats = {}
    with open(path) as file:
        for line in file:
            key, value = line.split()
            stats[key] = int(value)
    return stats


def cgroup_memory(directory):
    """{'usage': bytes, 'working_set': usage - inactive file cache} of a memory cgroup."""
    v1 = os.path.exists(os.path.join(directory, "memory.usage_in_bytes"))
    usage_file = "memory.usage_in_bytes" if v1 else "memory.current"
    with open(os.path.join(directory, usage_file)) as file:
        usage = int(file.read())
    stat = _read_stat(os.path.join(directory, "memory.stat"))
    inactive = stat.get("total_inactive_file" if v1 else "inactive_file", 0)
    return {"usage": usage, "working_set": max(usage - inactive, 0)}


def cgroup_pids(directory):
    pids = set()
    for root, _dirs, files in os.walk(directory):
        if "cgroup.procs" in files:
            with open(os.path.join(root, "cgroup.procs")) as file:
                pids.update(int(line) for line in file if line.strip())
    return sorted(pids)


def process_rss(pids):
    """[(name, rss KiB)] of live processes; kernel threads and vanished PIDs are skipped."""
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as file:
                fields = dict(line.split(":", 1) for line in file if ":" in line)
        except OSError:
            continue
        if "VmRSS" not in fields:
            continue
        found.append((fields["Name"].strip(), int(fields["VmRSS"].split()[0])))
    return found
