"""A machine object for the container contract that runs commands on this host.

Same semantics as the NixOS test driver's machine (the subset checks.py uses):
succeed raises on a non-zero exit and returns stdout, execute returns (status, stdout),
fail raises on a zero exit, wait_until_succeeds retries until success or timeout.
Commands run with `bash -c` under `set -euo pipefail`, as the driver runs them; stderr
goes to our stderr, as the driver shows it too.
"""

import subprocess
import sys
import time


class CommandFailed(Exception):
    pass


class LocalMachine:
    def __init__(self, cwd=None, verbose=False):
        self.cwd = cwd
        self.verbose = verbose

    def _run(self, command, timeout=None):
        if self.verbose:
            print(f"$ {command}", file=sys.stderr, flush=True)
        try:
            proc = subprocess.run(
                ["bash", "-c", "set -euo pipefail\n" + command], cwd=self.cwd, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True, timeout=timeout,
            )
        except subprocess.TimeoutExpired:
            return 124, f"(timed out after {timeout} s)"
        if proc.stderr and (self.verbose or proc.returncode != 0):
            sys.stderr.write(proc.stderr)
        return proc.returncode, proc.stdout

    def execute(self, command, timeout=900):
        return self._run(command, timeout)

    def succeed(self, command, timeout=900):
        status, out = self._run(command, timeout)
        if status != 0:
            raise CommandFailed(f"command failed (exit {status}): {command}\n{out}")
        return out

    def fail(self, command, timeout=900):
        status, out = self._run(command, timeout)
        if status == 0:
            raise CommandFailed(f"command succeeded, expected failure: {command}\n{out}")
        return out

    def wait_until_succeeds(self, command, timeout=900):
        deadline = time.monotonic() + timeout
        while True:
            status, out = self._run(command, timeout)
            if status == 0:
                return out
            if time.monotonic() >= deadline:
                raise CommandFailed(f"still failing after {timeout} s (exit {status}): {command}\n{out}")
            time.sleep(1)
