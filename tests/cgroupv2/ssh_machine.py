"""A machine object with the NixOS test driver's command semantics, over SSH.

The container contract (tests/contract/checks.py) is written against the NixOS
driver's `machine`; this adaptor lets the same checks run unchanged in the
cgroup v2 guest. As in the driver, each command runs under
`bash -c 'set -euo pipefail; ...'` and only its stdout is returned.
"""

import shlex
import subprocess
import sys
import time
from pathlib import Path


class SshMachine:
    def __init__(self, vm_script, name="cg2guest", wait_scale=1.0):
        self.vm_script = str(vm_script)
        self.name = name
        # Waiting bounds (not behaviour bounds) stretched for a slow emulated guest.
        self.wait_scale = wait_scale

    def log(self, msg):
        print(f"{self.name}: {msg}", file=sys.stderr, flush=True)

    def execute(self, command, check_return=True, check_output=True, timeout=900):
        remote = "set -euo pipefail; " + command
        if timeout is not None:
            remote_cmd = f"timeout --kill-after=5 {int(timeout)} bash -c {shlex.quote(remote)}"
        else:
            remote_cmd = f"bash -c {shlex.quote(remote)}"
        try:
            proc = subprocess.run(
                [self.vm_script, "ssh", remote_cmd],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                timeout=None if timeout is None else timeout + 30,
            )
        except subprocess.TimeoutExpired:
            return (124, "") if check_return else (None, "")
        out = proc.stdout.decode("utf-8", "replace") if check_output else ""
        if proc.returncode == 255:
            # ssh's own failure (connection lost): never mistake it for the command's result.
            raise RuntimeError(f"ssh to the guest failed while running: {command}")
        return proc.returncode, out

    def succeed(self, *commands, timeout=None):
        output = ""
        for command in commands:
            self.log(f"must succeed: {command}")
            status, out = self.execute(command, timeout=timeout)
            if status != 0:
                self.log(f"output: {out}")
                raise Exception(f"command `{command}` failed (exit code {status})")
            output += out
        return output

    def fail(self, *commands, timeout=None):
        output = ""
        for command in commands:
            self.log(f"must fail: {command}")
            status, out = self.execute(command, timeout=timeout)
            if status == 0:
                raise Exception(f"command `{command}` unexpectedly succeeded")
            output += out
        return output

    def wait_until_succeeds(self, command, timeout=900):
        self.log(f"wait until succeeds: {command}")
        timeout *= self.wait_scale
        deadline = time.monotonic() + timeout
        while True:
            status, out = self.execute(command, timeout=max(1, int(deadline - time.monotonic())))
            if status == 0:
                return out
            if time.monotonic() >= deadline:
                raise Exception(f"timed out after {timeout} s waiting for `{command}` to succeed")
            time.sleep(1)

    def wait_until_fails(self, command, timeout=900):
        self.log(f"wait until fails: {command}")
        timeout *= self.wait_scale
        deadline = time.monotonic() + timeout
        while True:
            status, out = self.execute(command, timeout=max(1, int(deadline - time.monotonic())))
            if status != 0:
                return out
            if time.monotonic() >= deadline:
                raise Exception(f"timed out after {timeout} s waiting for `{command}` to fail")
            time.sleep(1)

    def wait_for_open_port(self, port, addr="localhost", timeout=900):
        self.wait_until_succeeds(f"timeout 2 bash -c '</dev/tcp/{addr}/{port}'", timeout=timeout)

    def sleep(self, secs):
        time.sleep(secs)


def default_machine(wait_scale=1.0):
    return SshMachine(Path(__file__).resolve().parent / "vm.sh", wait_scale=wait_scale)
