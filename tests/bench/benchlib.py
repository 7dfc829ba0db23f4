"""Shared pieces of the duet benchmarks: wrk output parsing, statistics, /proc readings.

Stdlib only, so the benchmarks run wherever python3 does (and from the Nix app).
"""

import json
import os
import re
import statistics
import subprocess
import sys
import time

_TIME_UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0, "h": 3_600_000.0}


class BenchError(Exception):
    """A benchmark cannot produce complete figures; the message says why."""


def parse_duration_ms(text):
    """'381.00us' -> 0.381, '2.5ms' -> 2.5, '1.01s' -> 1010.0 (wrk's time format)."""
    match = re.fullmatch(r"\s*([0-9.]+)\s*(us|ms|s|m|h)\s*", text)
    if not match:
        raise ValueError(f"not a wrk duration: {text!r}")
    return float(match.group(1)) * _TIME_UNITS_MS[match.group(2)]


def parse_wrk(output):
    """Figures from `wrk --latency` output: requests/s, p50/p75/p90/p99 in ms, requests, errors."""
    result = {}
    match = re.search(r"^Requests/sec:\s+([0-9.]+)", output, re.M)
    if not match:
        raise ValueError("wrk output has no Requests/sec line")
    result["rps"] = float(match.group(1))
    match = re.search(r"^\s*(\d+) requests in ([0-9.]+\w+),", output, re.M)
    if match:
        result["requests"] = int(match.group(1))
    section = output.split("Latency Distribution", 1)
    if len(section) != 2:
        raise ValueError("wrk output has no Latency Distribution (run wrk with --latency)")
    for percent, value in re.findall(r"^\s*(50|75|90|99)%\s+(\S+)", section[1], re.M):
        result[f"p{percent}_ms"] = parse_duration_ms(value)
    if "p50_ms" not in result or "p99_ms" not in result:
        raise ValueError("wrk latency distribution lacks p50 or p99")
    errors = {}
    match = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    if match:
        errors = dict(zip(("connect", "read", "write", "timeout"), map(int, match.groups())))
    match = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if match:
        errors["non2xx"] = int(match.group(1))
    result["errors"] = errors
    return result


def run_wrk(url, duration_s, connections=50, threads=1, timeout_s=10):
    """One keep-alive wrk run against url; returns parse_wrk's figures."""
    command = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        f"--timeout={timeout_s}s",
        "--latency",
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60)
    if done.returncode != 0:
        raise BenchError(f"wrk failed on {url}: {done.stderr.strip() or done.stdout.strip()}")
    try:
        return parse_wrk(done.stdout)
    except ValueError as error:
        raise BenchError(f"cannot read wrk output for {url}: {error}\n{done.stdout}") from None


def median(values):
    return statistics.median(values)


def spread(values):
    """(min, max) of the rounds: with 3-5 rounds the range says more than a deviation."""
    return (min(values), max(values))


def summarize(values):
    """{'median', 'min', 'max', 'n'} of a non-empty list of numbers."""
    if not values:
        raise ValueError("no values to summarize")
    low, high = spread(values)
    return {"median": median(values), "min": low, "max": high, "n": len(values)}


def format_number(value, digits=3):
    """Compact human figure: 3 significant digits, thousands as k."""
    if value is None:
        return "n/a"
    magnitude = abs(value)
    if magnitude >= 100_000:
        return f"{value / 1000:.0f}k"
    if magnitude >= 10_000:
        return f"{value / 1000:.1f}k"
    if magnitude >= 1000:
        return f"{value:.0f}"
    if magnitude == 0:
        return "0"
    return f"{value:.{digits}g}"


def proc_status_kib(pid, field):
    """A kB field (VmRSS, VmHWM) of /proc/PID/status, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise BenchError(f"/proc/{pid}/status has no {field}")


def proc_cpu_seconds(pid):
    """User + system CPU time of a process so far."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def child_pids(parent):
    """PIDs whose parent is `parent` (nginx workers of a master)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            children.append(int(entry))
    return sorted(children)


def loadavg():
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def measured(started, start_load, note):
    """The "measured" record a benchmark's JSON opens with: when (UTC), the load average at
    the start and at the end, and the caller's note on the host (--host-note)."""
    fmt = "%Y-%m-%d %H:%M"
    return {
        "from_utc": time.strftime(fmt, time.gmtime(started)),
        "to_utc": time.strftime(fmt, time.gmtime()),
        "loadavg_start": start_load,
        "loadavg_end": loadavg(),
        "host_note": note or "",
    }


def conditions_line(run):
    """The line every rendered result starts with: when it was measured, on what host, under
    what load. A JSON without a "measured" record says its date was not recorded."""
    facts = run["facts"]
    host = f"{facts['engine']}, cgroup {facts['cgroup']}, kernel {facts['kernel']}, {facts['cpus']} CPUs"
    when = run.get("measured")
    if not when:
        return f"Measured: date not recorded; {host}."
    note = f"; {when['host_note']}" if when.get("host_note") else ""
    return (
        f"Measured {when['from_utc']}–{when['to_utc'][-5:]} UTC on {host}; load average "
        f"{when['loadavg_start']} at the start, {when['loadavg_end']} at the end{note}."
    )


def add_host_note_argument(parser):
    parser.add_argument(
        "--host-note",
        default="",
        help="the host's state in words (e.g. \"shared with "
        'other work"), written with the date at the top of the results',
    )


def default_out_dir(tool, environ=None, now=None):
    """Where a benchmark writes when not given --out: outside the repository, under
    $XDG_CACHE_HOME (or ~/.cache)/duet/TOOL-YYYYmmdd-HHMMSS, so that a run never
    overwrites the results a README embeds."""
    environ = os.environ if environ is None else environ
    cache = environ.get("XDG_CACHE_HOME") or os.path.join(environ.get("HOME") or "/tmp", ".cache")
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return os.path.join(cache, "duet", f"{tool}-{stamp}")


def percentile(values, percent):
    """Nearest-rank percentile of a non-empty list (p99 of 100 values is the 99th smallest)."""
    if not values:
        raise ValueError("no values for a percentile")
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * percent // 100))
    return ordered[int(rank) - 1]


# What a --render of a JSON that is not the tool's own raises while reading it.
RENDER_ERRORS = (ValueError, KeyError, TypeError, AttributeError, IndexError, ZeroDivisionError)


def read_run(path, name, keys):
    """The JSON a benchmark wrote (`name`: faults.json, compare.json), for --render; one
    BenchError line when it cannot be read, is no JSON, or lacks one of the top-level `keys`."""
    try:
        with open(path) as file:
            run = json.load(file)
    except OSError as error:
        raise BenchError(f"{path}: cannot read it: {error.strerror or error}") from None
    except ValueError as error:
        raise BenchError(f"{path}: not a {name} of this tool: {error}") from None
    missing = [key for key in keys if key not in run] if isinstance(run, dict) else list(keys)
    if missing:
        raise BenchError(f"{path}: not a {name} of this tool: no {', '.join(missing)}")
    return run


def write_outputs(out, files):
    """Writes {file name: text} into the directory `out` (made if missing); one BenchError line
    when it cannot."""
    try:
        os.makedirs(out, exist_ok=True)
        for name, text in files.items():
            with open(os.path.join(out, name), "w") as file:
                file.write(text)
    except OSError as error:
        raise BenchError(f"cannot write {out}: {error.strerror or error}") from None


class BenchRun:
    """A compare or faults run from its start on: when it began and the load average then, and
    at its end its record written as TOOL.json ("measured" first, see measured()), TOOL.md and
    TOOL.svg."""

    def __init__(self, tool, args):
        self.tool, self.args = tool, args
        self.started, self.start_load = time.time(), loadavg()

    def write(self, render, **fields):
        """Writes the record, `fields` after "measured", into --out (default:
        default_out_dir(TOOL)), then TOOL.md and TOOL.svg from it with render(path, out);
        prints the table and where the files went."""
        out = self.args.out or default_out_dir(self.tool)
        os.makedirs(out, exist_ok=True)
        path = os.path.join(out, f"{self.tool}.json")
        run = {"measured": measured(self.started, self.start_load, self.args.host_note), **fields}
        with open(path, "w") as file:
            json.dump(run, file, indent=1)
        print()
        print(render(path, out))
        print(f"wrote {out}/{self.tool}.md, {self.tool}.svg, {self.tool}.json")


# What a step that runs commands can fail with, short of a bug.
STEP_ERRORS = (BenchError, OSError, subprocess.SubprocessError)


def then_clean_up(label, work, cleanup):
    """work(), then cleanup() whatever happened; returns what work returned. A failing cleanup
    never hides why work failed: one BenchError line names both, work's error first, after
    `label: ` when a label is given."""
    problems = []
    try:
        return_value = work()
    except STEP_ERRORS as error:
        problems.append(last_line(error))
    finally:
        try:
            cleanup()
        except STEP_ERRORS as error:
            problems.append(f"cleaning up failed{' too' if problems else ''}: {last_line(error)}")
    if problems:
        raise BenchError((f"{label}: " if label else "") + "; ".join(problems))
    return return_value


def last_line(error):
    """The last non-empty line of an error's message (where a command's output ends with
    its reason), or the error's type when it has no message."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    return lines[-1] if lines else type(error).__name__


def run_main(tool, main):
    """Runs a benchmark's main() as its command: a BenchError, or a file it cannot read or
    write (an --out or --render path), ends it with one line `TOOL: reason` on stderr and exit
    status 1, Ctrl-C with 130."""
    try:
        main()
    except (BenchError, OSError) as error:
        print(f"{tool}: {error}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
