"""The shell scripts the k3s VM tests' busybox pods run (STREAM_SCRIPT, ADMITTED_SCRIPT and
REFUSED_SCRIPT in nix/vm-tests/k3s_common.py), run here by busybox (its sh, wget, nslookup,
timeout; nothing else on PATH) against a real duet-server and a DNS responder on loopback.
A server that starts a few seconds late stands for a pod the network policy controller has
not admitted yet; a DNS responder that stays silent, for a pod whose own egress is closed.

  stream    server late: `ok: first answer` after failed tries, then only later requests
            count: 0 failed; no server: `gave up` at its bound, exit 1
  admitted  server late: exit 0 with /metrics' body; no server: `gave up`, exit 1
  refused   DNS answering, port closed: exit 1 `refused:`; DNS answering, server up:
            exit 0 `reached`; DNS silent: exit 2 (its egress not shown open)

Broken copies (the stream without its first-answer wait, a one-shot scrape, a refusal with
no DNS proof) must each fail a case, so the checks can fail.

usage: python3 tests/orchestrators/pod_scripts.py [--bin-dir target/release]
"""

import argparse
import ast
import os
import pathlib
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time

import manifests as m

COMMON = m.REPO / "nix" / "vm-tests" / "k3s_common.py"
SCRIPTS = ("RETRY_SH", "STREAM_SCRIPT", "ADMITTED_SCRIPT", "REFUSED_SCRIPT")
APPLETS = ("sh", "wget", "nslookup", "timeout", "date", "sleep", "[", "test", "echo")
LATE = 3  # seconds the server starts late
DNS_NAME = "duet-server.duet.svc.cluster.local"


def load_scripts(source):
    """The script constants of k3s_common.py, evaluated from their assignments alone."""
    tree = ast.parse(source)
    body = [
        n
        for n in tree.body
        if isinstance(n, ast.Assign)
        and len(n.targets) == 1
        and isinstance(n.targets[0], ast.Name)
        and n.targets[0].id in SCRIPTS
    ]
    found = {}
    exec(compile(ast.Module(body=body, type_ignores=[]), str(COMMON), "exec"), {}, found)
    missing = sorted(set(SCRIPTS) - set(found))
    if missing:
        raise ValueError(f"{COMMON.name} defines no {', '.join(missing)}")
    return found


class Dns:
    """Answers every A query with 127.0.0.1 (other types: no record) until silenced."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.answering = True
        self.done = False
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while not self.done:
            try:
                query, peer = self.sock.recvfrom(512)
            except socket.timeout:
                continue
            if self.answering and len(query) > 12:
                self.sock.sendto(self.answer(query), peer)

    @staticmethod
    def answer(query):
        end = 12
        while query[end] != 0:
            end += query[end] + 1
        question = query[12 : end + 5]
        qtype = struct.unpack("!H", query[end + 1 : end + 3])[0]
        record = b""
        if qtype == 1:
            record = struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton("127.0.0.1")
        header = struct.pack(
            "!HHHHHH", struct.unpack("!H", query[:2])[0], 0x8180, 1, 1 if record else 0, 0, 0
        )
        return header + question + record

    def close(self):
        self.done = True
        self.thread.join()
        self.sock.close()


class Server:
    """duet-server on a free loopback port, started after `delay` seconds (or never)."""

    def __init__(self, bin_dir, delay=None):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.bin_dir = bin_dir
        self.proc = None
        self.timer = threading.Timer(delay, self.start) if delay is not None else None
        if self.timer:
            self.timer.start()

    def start(self):
        self.proc = subprocess.Popen(
            [f"{self.bin_dir}/duet-server", "--listen", f"127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def close(self):
        if self.timer:
            self.timer.cancel()
        if self.proc:
            self.proc.terminate()
            self.proc.wait(timeout=30)


class Box:
    """Runs a script as the pod would: busybox's sh with busybox's applets only."""

    def __init__(self, busybox, tmp):
        self.bin = pathlib.Path(tmp) / "bin"
        self.bin.mkdir()
        for applet in APPLETS:
            (self.bin / applet).symlink_to(busybox)

    def start(self, script, *args):
        return subprocess.Popen(
            [str(self.bin / "sh"), "-c", script, "probe", *map(str, args)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={"PATH": str(self.bin)},
        )

    def run(self, script, *args, timeout=60):
        proc = self.start(script, *args)
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
            return None, out
        return proc.returncode, out


def stream_case(box, scripts, bin_dir, tmp):
    """Server late: waits, then counts only what follows; 0 failed."""
    server = Server(bin_dir, delay=LATE)
    stop = pathlib.Path(tmp) / "stop"
    stop.unlink(missing_ok=True)
    proc = box.start(scripts["STREAM_SCRIPT"], f"{server.url}/", 30, stop)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and proc.poll() is None:
            if any(re.match(r"progress sent=([2-9]\d\d|\d{4,})", line) for line in list(lines)):
                break
            time.sleep(0.2)
        stop.touch()
        proc.wait(timeout=30)
        reader.join(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
        server.close()
    out = "".join(lines)
    ready = re.search(r"^ok: first answer from \S+ \(after (\d+) failed tries\)$", out, re.M)
    done = re.search(r"^done sent=(\d+) failed=(\d+)$", out, re.M)
    problems = []
    if not ready or int(ready[1]) < 1:
        problems.append("no `ok: first answer` after failed tries (the server started late)")
    if not done or int(done[2]) != 0 or int(done[1]) < 100:
        problems.append("not `done` with 100 requests or more and 0 failed")
    if proc.returncode != 0:
        problems.append(f"exit {proc.returncode}")
    return problems, out


def expect(code, out, want_code, want_line):
    problems = []
    if code != want_code:
        problems.append(f"exit {'(killed at its bound)' if code is None else code}, expected {want_code}")
    if not re.search(want_line, out, re.M):
        problems.append(f"no line like /{want_line}/")
    return problems


def cases(box, scripts, bin_dir, tmp, dns, only=None):
    """[(name, problems, output)] of every case (of script `only`, if given)."""
    results = []
    if only in (None, "STREAM_SCRIPT"):
        problems, out = stream_case(box, scripts, bin_dir, tmp)
        results.append(("stream: server late, then 0 failed", problems, out))
        code, out = box.run(
            scripts["STREAM_SCRIPT"], "http://127.0.0.1:9/", 3, pathlib.Path(tmp) / "stop-never", timeout=30
        )
        results.append(
            (
                "stream: no server, gives up at its bound",
                expect(code, out, 1, r"^gave up: first answer from "),
                out,
            )
        )
    if only in (None, "ADMITTED_SCRIPT"):
        results += admitted_cases(box, scripts, bin_dir)
    if only in (None, "REFUSED_SCRIPT"):
        results += refused_cases(box, scripts, bin_dir, dns)
    return results


def admitted_cases(box, scripts, bin_dir):
    results = []
    server = Server(bin_dir, delay=LATE)
    try:
        code, out = box.run(scripts["ADMITTED_SCRIPT"], f"{server.url}/metrics", 30)
    finally:
        server.close()
    results.append(("admitted: server late, body once it answers", expect(code, out, 0, r"^# TYPE "), out))

    code, out = box.run(scripts["ADMITTED_SCRIPT"], "http://127.0.0.1:9/metrics", 3, timeout=30)
    results.append(
        ("admitted: no server, gives up at its bound", expect(code, out, 1, r"^gave up: answer from "), out)
    )
    return results


def refused_cases(box, scripts, bin_dir, dns):
    results = []

    code, out = box.run(
        scripts["REFUSED_SCRIPT"], DNS_NAME, "http://127.0.0.1:9/", 10, dns.address, timeout=60
    )
    results.append(("refused: egress open (DNS), port refusing", expect(code, out, 1, r"^refused: "), out))

    server = Server(bin_dir, delay=0)
    try:
        time.sleep(1)
        code, out = box.run(
            scripts["REFUSED_SCRIPT"], DNS_NAME, f"{server.url}/", 10, dns.address, timeout=60
        )
    finally:
        server.close()
    results.append(("refused: the server answers", expect(code, out, 0, r"^reached "), out))

    dns.answering = False
    try:
        code, out = box.run(
            scripts["REFUSED_SCRIPT"], DNS_NAME, "http://127.0.0.1:9/", 3, dns.address, timeout=60
        )
    finally:
        dns.answering = True
    results.append(
        (
            "refused: egress closed (DNS silent): proves nothing, exit 2",
            expect(code, out, 2, r"^gave up: DNS answer for "),
            out,
        )
    )
    return results


def broken_copies(scripts):
    """(what, script changed, scripts with that change) for each defect the cases must catch."""

    def without(name, pattern):
        text, n = re.subn(pattern, "", scripts[name], flags=re.M)
        if n == 0:
            raise ValueError(f"cannot break {name}: no line like /{pattern}/")
        return name, dict(scripts, **{name: text})

    return [
        (
            "the stream counting from its first request",
            *without("STREAM_SCRIPT", r"^retry .*first answer.*$"),
        ),
        (
            "a one-shot scrape",
            "ADMITTED_SCRIPT",
            {**scripts, "ADMITTED_SCRIPT": scripts["RETRY_SH"] + 'timeout 8 wget -q -O - "$1"\n'},
        ),
        ("a refusal with no DNS proof", *without("REFUSED_SCRIPT", r"^retry .*resolves \|\| exit 2$")),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bin-dir", default=str(m.REPO / "target" / "release"))
    args = parser.parse_args()
    busybox = shutil.which("busybox")
    if busybox is None:
        print("FAIL: pod-scripts: missing tool busybox (tests/install-deps.sh installs it)")
        return 1
    if not os.access(f"{args.bin_dir}/duet-server", os.X_OK):
        print(f"FAIL: pod-scripts: missing {args.bin_dir}/duet-server (cargo build --release --bins)")
        return 1
    try:
        scripts = load_scripts(COMMON.read_text())
        broken = broken_copies(scripts)
    except (ValueError, SyntaxError) as error:
        print(f"FAIL: pod-scripts: {error}")
        return 1
    failed = False
    dns = Dns()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            box = Box(busybox, tmp)
            for name, problems, out in cases(box, scripts, args.bin_dir, tmp, dns):
                print(f"pod-scripts: {name}: {'FAIL: ' + '; '.join(problems) if problems else 'pass'}")
                if problems:
                    print("  | " + "\n  | ".join(out.rstrip().splitlines()[-15:]))
                failed |= bool(problems)
            for what, script, copy in broken:
                missed = [
                    name
                    for name, problems, _ in cases(box, copy, args.bin_dir, tmp, dns, only=script)
                    if problems
                ]
                print(
                    f"pod-scripts: broken copy ({what}): {'caught by ' + missed[0] if missed else 'MISSED: FAIL'}"
                )
                failed |= not missed
            print(f"pod-scripts: {len(broken)} broken copies")
    finally:
        dns.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
