"""The NixOS test driver's `machine` and `subtest`, for running the container contract
outside a NixOS VM test.

`Machine(transport)` has the driver's command semantics (the subset the contract uses):
every command runs as `timeout T bash -c 'set -euo pipefail; COMMAND'` on the machine,
only its stdout comes back and its stderr goes to ours (the driver logs it);
`execute` returns (status, stdout); `succeed` raises on a non-zero status, `fail` on a
zero one; `wait_until_succeeds`/`wait_until_fails` retry once a second until the
timeout, then try a last time. Two transports say where the machine is:
`LocalShell` (this host) and `Ssh` (any command that runs a shell line remotely, such as
`ssh HOST` or tests/cgroupv2/vm.sh's `ssh`).

`Subtests` is the driver's `subtest(name)` context manager for these runners: it prints
each name with its time and remembers the one that failed, so a failure names its step.
"""

import shlex
import subprocess
import sys
import time
from contextlib import contextmanager

# How long past a command's own timeout the transport waits before giving up on it
# (a command that ignores SIGTERM, a hung connection).
GRACE_S = 30


class CommandFailed(AssertionError):
    pass


class TransportError(RuntimeError):
    """The transport failed (the SSH connection, say): never a command's own result."""


class LocalShell:
    """Runs shell lines on this host."""

    def __init__(self, cwd=None):
        self.cwd = cwd

    def __str__(self):
        return "this host"

    def run(self, line, timeout):
        """Runs line under bash; returns (status, stdout bytes)."""
        try:
            proc = subprocess.run(
                ["bash", "-c", line],
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return 124, b""
        return proc.returncode, proc.stdout


class Ssh:
    """Runs shell lines through a command that runs its last argument remotely
    (`ssh root@HOST`, `tests/cgroupv2/vm.sh ssh`)."""

    def __init__(self, argv):
        self.argv = [str(a) for a in argv]

    def __str__(self):
        return " ".join(self.argv)

    def run(self, line, timeout):
        try:
            proc = subprocess.run(
                self.argv + [line], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, timeout=timeout
            )
        except subprocess.TimeoutExpired:
            return 124, b""
        if proc.returncode == 255:
            raise TransportError(f"{self} failed (exit 255) while running: {line}")
        return proc.returncode, proc.stdout


class Machine:
    def __init__(self, transport, name="machine", verbose=False):
        self.transport = transport
        self.name = name
        self.verbose = verbose

    def log(self, message):
        print(f"{self.name}: {message}", file=sys.stderr, flush=True)

    def _trace(self, message):
        if self.verbose:
            self.log(message)

    def execute(self, command, check_return=True, check_output=True, timeout=900):
        script = f"set -euo pipefail; {command}"
        line = f"bash -c {shlex.quote(script)}"
        if timeout is not None:
            line = f"timeout {timeout} {line}"
        status, out = self.transport.run(line, None if timeout is None else timeout + GRACE_S)
        if not check_output:
            return -2, ""
        text = out.decode("utf-8", "replace")
        if not check_return:
            return -1, text
        return status, text

    def succeed(self, *commands, timeout=None):
        output = ""
        for command in commands:
            self._trace(f"must succeed: {command}")
            status, out = self.execute(command, timeout=timeout)
            if status != 0:
                self.log(f"output: {out}")
                raise CommandFailed(f"command `{command}` failed (exit code {status})")
            output += out
        return output

    def fail(self, *commands, timeout=None):
        output = ""
        for command in commands:
            self._trace(f"must fail: {command}")
            status, out = self.execute(command, timeout=timeout)
            if status == 0:
                raise CommandFailed(f"command `{command}` unexpectedly succeeded")
            output += out
        return output

    def _retry(self, command, timeout, done):
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            status, out = self.execute(command, timeout=timeout)
            if done(status):
                return out
            time.sleep(1)
        status, out = self.execute(command, timeout=timeout)
        if done(status):
            return out
        raise CommandFailed(
            f"action timed out after {time.monotonic() - started:.2f} seconds (timeout={timeout}): "
            f"`{command}` (last exit code {status})"
        )

    def wait_until_succeeds(self, command, timeout=900):
        self._trace(f"waiting for success: {command}")
        return self._retry(command, timeout, lambda status: status == 0)

    def wait_until_fails(self, command, timeout=900):
        self._trace(f"waiting for failure: {command}")
        return self._retry(command, timeout, lambda status: status != 0)


class Subtests:
    """`subtest(name)` as the driver has it. `failed` is the name of the first subtest
    that raised (None while all passed); `prefix` goes before every name printed."""

    def __init__(self, prefix=""):
        self.prefix = prefix
        self.failed = None

    @contextmanager
    def __call__(self, name):
        label = f"{self.prefix}{name}"
        print(f"subtest: {label}", flush=True)
        started = time.monotonic()
        try:
            yield
        except BaseException as error:
            if self.failed is None:
                self.failed = name
            first = str(error).splitlines()[0] if str(error) else type(error).__name__
            print(f"subtest FAILED after {time.monotonic() - started:.1f} s: {label}: {first}", flush=True)
            raise
        print(f"subtest ok ({time.monotonic() - started:.1f} s): {label}", flush=True)
