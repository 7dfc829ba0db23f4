#!/usr/bin/env python3
"""machine.py keeps the NixOS test driver's command semantics on both transports; the
checks' own parsing and their plan for a spec hold.

Runs real shells: the local one, and the SSH transport with `sh -c` standing in for the
remote end (it runs its last argument as ssh does). No engine needed: a few seconds.
usage: python3 tests/contract/test_machine.py [--spec FILE] [unittest args]
  --spec: the pair spec whose plan is checked (default units/pair.json)
"""

import inspect
import os
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(REPO, "units", "run"))

import checks  # noqa: E402
import pairspec  # noqa: E402
from machine import CommandFailed, LocalShell, Machine, Ssh, Subtests, TransportError  # noqa: E402

# Runs its last argument under sh, as `ssh HOST LINE` runs LINE in the remote shell.
REMOTE_SH = ["sh", "-c", 'eval "$1"', "remote-sh"]


class DriverSemantics:
    """The same assertions for every transport."""

    def machine(self):
        raise NotImplementedError

    def test_succeed_returns_stdout_only(self):
        self.assertEqual(self.machine().succeed("echo out; echo err >&2"), "out\n")

    def test_succeed_concatenates_commands(self):
        self.assertEqual(self.machine().succeed("echo a", "echo b"), "a\nb\n")

    def test_succeed_raises_on_failure(self):
        with self.assertRaisesRegex(CommandFailed, r"exit code 3"):
            self.machine().succeed("exit 3")

    def test_fail(self):
        self.assertEqual(self.machine().fail("echo x; false"), "x\n")
        with self.assertRaises(CommandFailed):
            self.machine().fail("true")

    def test_set_euo_pipefail(self):
        m = self.machine()
        self.assertEqual(m.execute("false; echo not reached")[0], 1)
        self.assertNotEqual(m.execute("false | cat")[0], 0)
        self.assertNotEqual(m.execute("echo $UNSET_VARIABLE_OF_THIS_TEST")[0], 0)

    def test_quotes_survive(self):
        self.assertEqual(self.machine().succeed("""printf '%s|' "a b" 'c'"'"'d' \\$HOME"""), "a b|c'd|$HOME|")

    def test_timeout_is_124(self):
        started = time.monotonic()
        self.assertEqual(self.machine().execute("sleep 30", timeout=1)[0], 124)
        self.assertLess(time.monotonic() - started, 10)

    def test_check_return_and_output(self):
        m = self.machine()
        self.assertEqual(m.execute("echo x; exit 5", check_return=False), (-1, "x\n"))
        self.assertEqual(m.execute("echo x", check_output=False), (-2, ""))

    def test_wait_until_succeeds_retries(self):
        with tempfile.TemporaryDirectory() as tmp:
            tries = os.path.join(tmp, "tries")
            out = self.machine().wait_until_succeeds(
                f"n=$(cat {tries} 2>/dev/null || echo 0); echo $((n + 1)) > {tries}; "
                f"[ $n -ge 2 ]; echo tries=$((n + 1))",
                timeout=20,
            )
        self.assertEqual(out, "tries=3\n")

    def test_wait_until_succeeds_times_out(self):
        started = time.monotonic()
        with self.assertRaisesRegex(CommandFailed, r"timed out"):
            self.machine().wait_until_succeeds("false", timeout=2)
        self.assertLess(time.monotonic() - started, 10)

    def test_wait_until_fails(self):
        self.assertEqual(self.machine().wait_until_fails("echo gone; false", timeout=5), "gone\n")


class LocalShellTest(DriverSemantics, unittest.TestCase):
    def machine(self):
        return Machine(LocalShell())


class SshTransportTest(DriverSemantics, unittest.TestCase):
    def machine(self):
        return Machine(Ssh(REMOTE_SH))

    def test_ssh_failure_is_not_a_command_result(self):
        with self.assertRaises(TransportError):
            Machine(Ssh(["sh", "-c", "exit 255", "ssh"])).execute("true")


class SubtestsTest(unittest.TestCase):
    def test_names_the_failed_subtest(self):
        subtest = Subtests()
        with subtest("first"):
            pass
        with self.assertRaises(ValueError):
            with subtest("second"):
                raise ValueError("boom")
        self.assertEqual(subtest.failed, "second")


class BoundsTest(unittest.TestCase):
    def test_contract_values(self):
        b = checks.Bounds()
        self.assertEqual(
            (b.serving_again_s, b.stop_s, b.stop_separate_s, b.down_s, b.wait(60)), (5, 5, 2, 30, 60)
        )

    def test_scaled(self):
        b = checks.Bounds().scaled(6)
        self.assertEqual(
            (b.serving_again_s, b.stop_s, b.stop_separate_s, b.down_s, b.wait(60)), (30, 30, 12, 180, 360)
        )
        self.assertEqual(checks.Bounds().scaled(1.5).wait(5), 8)


# `supervisorctl status` as supervisor 4.2 prints it: a plain program, the processes of an
# [fcgi-program:server] group with numprocs=2, and the library's event listener.
STATUS = """\
client                           RUNNING   pid 31, uptime 0:00:09
exit-on-fatal                    RUNNING   pid 12, uptime 0:00:10
server:server_00                 RUNNING   pid 29, uptime 0:00:10
server:server_01                 STARTING
serverless                       RUNNING   pid 40, uptime 0:00:10
"""


class SupervisordNamesTest(unittest.TestCase):
    def test_group_processes(self):
        self.assertEqual(
            checks.program_processes(STATUS, "server"),
            {"server:server_00": "RUNNING", "server:server_01": "STARTING"},
        )

    def test_plain_program(self):
        self.assertEqual(checks.program_processes(STATUS, "client"), {"client": "RUNNING"})
        self.assertEqual(checks.program_processes(STATUS, "absent"), {})

    def test_process_name(self):
        self.assertEqual(checks.process_name("server:server_01"), "server_01")
        self.assertEqual(checks.process_name("client"), "client")


class RefusedTest(unittest.TestCase):
    """inherited-socket: the killed process's own request may go unanswered, nothing else."""

    def setUp(self):
        self.quiet, checks.log = checks.log, lambda line: None

    def tearDown(self):
        checks.log = self.quiet

    def test_none_or_the_killed_process_own_request(self):
        self.assertIsNone(checks.refused_message(40, {}, "a kill"))
        self.assertIsNone(checks.refused_message(40, {"http=000/curl=52": 1}, "a kill"))
        self.assertIsNone(checks.refused_message(40, {"http=000/curl=56": 1}, "a kill"))

    def test_refusals_and_more_fail(self):
        self.assertIn("curl 7", checks.refused_message(40, {"http=000/curl=7": 1}, "a kill"))
        self.assertIsNotNone(checks.refused_message(40, {"http=000/curl=52": 2}, "a kill"))
        self.assertIsNotNone(
            checks.refused_message(40, {"http=000/curl=52": 1, "http=000/curl=56": 1}, "a kill")
        )
        self.assertIsNotNone(checks.refused_message(40, {"http=503/curl=0": 1}, "a kill"))
        with self.assertRaises(checks.ContractError):
            checks.refused_message(3, {}, "a kill")


class PlanTest(unittest.TestCase):
    """The spec loads, and every ability it can declare has a check in an approach."""

    def test_every_ability_has_an_approach(self):
        self.assertEqual(set(checks.ABILITY_APPROACH), set(pairspec.ABILITIES))
        self.assertTrue(set(checks.ABILITY_APPROACH.values()) <= set(checks.CHECKS))

    def test_checks_take_the_spec(self):
        for check in checks.CHECKS.values():
            self.assertEqual(list(inspect.signature(check).parameters)[:3], ["machine", "run", "spec"])

    def test_spec(self):
        spec = pairspec.load(SPEC)
        for ability in spec.abilities:
            self.assertIn(ability, checks.ABILITY_APPROACH)
        if spec.has("readiness"):
            self.assertTrue(spec.readiness_path.startswith("/"))


SPEC = os.path.join(REPO, "units", "pair.json")


def take_spec(argv):
    """Removes `--spec FILE` from argv (the rest goes to unittest); returns the file."""
    if "--spec" in argv:
        i = argv.index("--spec")
        if i + 1 >= len(argv):
            sys.exit("test_machine.py: --spec needs a file")
        file = argv[i + 1]
        del argv[i : i + 2]
        return file
    return SPEC


if __name__ == "__main__":
    SPEC = take_spec(sys.argv)
    try:
        pairspec.load(SPEC)
    except pairspec.SpecError as error:
        sys.exit(f"test_machine.py: {error}")
    unittest.main(verbosity=2)
