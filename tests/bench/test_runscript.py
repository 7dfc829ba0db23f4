"""Unit checks of the benchmarks' handle on units/run.sh (runscript.py), against the real
run.sh where it needs no engine: the project-name rule is run.sh's, and a run script that
does not know --spec/--project is an error, not a fallback.
Run: python3 -m unittest discover -s tests/bench -p 'test_*.py'"""

import argparse
import contextlib
import io
import os
import subprocess
import tempfile
import unittest

import benchlib
import runscript

OTHER = runscript.pairspec.load(os.path.join(runscript.REPO, "tests", "runscript", "other-pair", "pair.json"))

# Names on both sides of run.sh's rule, among them those the benchmarks' own rule used to
# take (capitals, '_', '.') and the length bounds.
NAMES = (
    "ab",
    "bench-1",
    "9lives",
    "p--q",
    "a" * 56,
    "a" * 57,
    "x",
    "Duet",
    "my_pair",
    "a.b",
    "-ab",
    "ab cd",
    "bench/1",
    "é-x",
)


def run_sh_takes(name):
    """Whether run.sh really runs under this project: --print-names (which reads the spec and
    names every container and the network) exits 0."""
    done = subprocess.run(
        [runscript.RUN_SH, "separate", "--spec", OTHER.path, "--project", name, "--print-names"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    return done.returncode == 0


class ProjectRule(unittest.TestCase):
    def test_the_benchmarks_take_exactly_what_run_sh_takes(self):
        taken = []
        for name in NAMES:
            with self.subTest(name=name):
                refusal = runscript.project_refusal(name)
                self.assertEqual(
                    refusal is None, run_sh_takes(name), f"{name!r}: the benchmarks say {refusal!r}"
                )
                if refusal is not None:
                    self.assertTrue(refusal.startswith(f"bad project name: '{name}'"), refusal)
                    self.assertNotIn("--help", refusal)
                else:
                    taken.append(name)
        self.assertEqual(taken, ["ab", "bench-1", "9lives", "p--q", "a" * 56])

    def test_check_project_is_one_parser_error(self):
        parser = argparse.ArgumentParser(prog="bench")
        for name, said in (
            ("My_Pair", "bench: error: --project: bad project name: 'My_Pair' (lowercase letters"),
            ("", "bench: error: --project: must not be empty"),
        ):
            stderr = io.StringIO()
            with self.assertRaises(SystemExit), contextlib.redirect_stderr(stderr):
                runscript.check_project(parser, name)
            self.assertIn(said, stderr.getvalue())
            self.assertEqual(
                len(stderr.getvalue().strip().splitlines()), 2
            )  # argparse's usage, then the error
        runscript.check_project(parser, "bench-2")

    def test_missing_run_script_is_one_parser_error(self):
        parser = argparse.ArgumentParser(prog="bench")
        stderr = io.StringIO()
        with self.assertRaises(SystemExit), contextlib.redirect_stderr(stderr):
            runscript.check_project(parser, "bench-2", run="/nonexistent/run.sh")
        self.assertIn(
            "bench: error: --project: cannot run the run script /nonexistent/run.sh: No such file",
            stderr.getvalue(),
        )


class NoFallback(unittest.TestCase):
    def test_a_run_script_without_project_is_an_error(self):
        script = os.path.join(tempfile.mkdtemp(), "run.sh")
        with open(script, "w") as file:
            file.write(
                '#!/bin/sh\nfor a; do [ "$a" = --spec ] && { echo "run.sh: unknown option: $a" >&2; exit 2; }; done\n'
            )
        os.chmod(script, 0o755)
        run = runscript.RunScript(script, "docker", "p1", OTHER)
        with self.assertRaises(benchlib.BenchError) as caught:
            run.names("separate")
        self.assertIn("unknown option: --spec", str(caught.exception))

    def test_start_and_stop_carry_spec_and_project(self):
        run = runscript.RunScript(runscript.RUN_SH, "podman", "p-7", OTHER)
        for command in (run.start_command("separate", 1234), run._base("separate") + ["--stop"]):
            self.assertEqual(command[command.index("--spec") + 1], OTHER.path)
            self.assertEqual(command[command.index("--project") + 1], "p-7")
            self.assertEqual(command[command.index("--engine") + 1], "podman")
        self.assertEqual(run.role("p-7-server"), "tally-server")
        self.assertEqual(run.role("someone-else"), "someone-else")


if __name__ == "__main__":
    unittest.main()
