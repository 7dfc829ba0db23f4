"""Unit checks of the benchmarks' parsing, statistics, cgroup reading and SVG output.
Run: python3 -m unittest discover -s tests/bench -p 'test_*.py'"""

import os
import tempfile
import unittest
import xml.dom.minidom

import benchlib
import containers
import crate_bench
import runscript
import svgchart

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:18999/
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    37.39ms  179.78ms   1.67s    95.81%
    Req/Sec     2.22k   575.69     3.79k    76.67%
  Latency Distribution
     50%  381.00us
     75%    3.35ms
     90%    7.92ms
     99%    1.14s 
  6634 requests in 3.01s, 1.25MB read
  Socket errors: connect 0, read 12, write 0, timeout 3
  Non-2xx or 3xx responses: 7
Requests/sec:   2206.39
Transfer/sec:    426.63KB
"""


class WrkParsing(unittest.TestCase):
    def test_figures(self):
        figures = benchlib.parse_wrk(WRK_OUTPUT)
        self.assertAlmostEqual(figures["rps"], 2206.39)
        self.assertEqual(figures["requests"], 6634)
        self.assertAlmostEqual(figures["p50_ms"], 0.381)
        self.assertAlmostEqual(figures["p75_ms"], 3.35)
        self.assertAlmostEqual(figures["p99_ms"], 1140.0)
        self.assertEqual(figures["errors"], {"connect": 0, "read": 12, "write": 0, "timeout": 3, "non2xx": 7})

    def test_without_errors_section(self):
        text = WRK_OUTPUT.replace("  Socket errors: connect 0, read 12, write 0, timeout 3\n", "")
        text = text.replace("  Non-2xx or 3xx responses: 7\n", "")
        self.assertEqual(benchlib.parse_wrk(text)["errors"], {})

    def test_missing_latency_is_refused(self):
        text = WRK_OUTPUT.split("  Latency Distribution")[0] + "Requests/sec: 1.0\n"
        with self.assertRaises(ValueError):
            benchlib.parse_wrk(text)

    def test_durations(self):
        self.assertAlmostEqual(benchlib.parse_duration_ms("2.50ms"), 2.5)
        self.assertAlmostEqual(benchlib.parse_duration_ms("1.5m"), 90_000.0)
        with self.assertRaises(ValueError):
            benchlib.parse_duration_ms("12 parsecs")


class Statistics(unittest.TestCase):
    def test_summarize(self):
        self.assertEqual(benchlib.summarize([3, 1, 2, 10, 4]), {"median": 3, "min": 1, "max": 10, "n": 5})
        self.assertEqual(benchlib.summarize([1, 2])["median"], 1.5)
        with self.assertRaises(ValueError):
            benchlib.summarize([])

    def test_format(self):
        self.assertEqual(benchlib.format_number(123456), "123k")
        self.assertEqual(benchlib.format_number(12345), "12.3k")
        self.assertEqual(benchlib.format_number(0.01234), "0.0123")


class CrateBenchOrder(unittest.TestCase):
    def test_rotation_without_a_baseline(self):
        order = ["duet", "bare-hyper", "nginx"]
        self.assertEqual(
            [crate_bench.rotation(order, r) for r in range(3)],
            [order, ["bare-hyper", "nginx", "duet"], ["nginx", "duet", "bare-hyper"]],
        )

    def test_baseline_stays_next_to_duet_and_takes_turns_first(self):
        order = ["duet", "baseline", "duet-w1", "nginx"]
        for round_index in range(6):
            rotated = crate_bench.rotation(order, round_index)
            self.assertEqual(sorted(rotated), sorted(order))
            first = rotated.index("duet") if round_index % 2 == 0 else rotated.index("baseline")
            self.assertEqual(
                rotated[first : first + 2],
                ["duet", "baseline"] if round_index % 2 == 0 else ["baseline", "duet"],
            )


class ContainerReading(unittest.TestCase):
    def test_timestamps(self):
        self.assertAlmostEqual(containers.parse_timestamp("1970-01-01T00:00:10.123456789Z"), 10.123456789)
        self.assertAlmostEqual(containers.parse_timestamp("1970-01-01T01:00:10.5+01:00"), 10.5)
        self.assertAlmostEqual(containers.parse_timestamp("1970-01-01 00:00:10.25 +0000 UTC"), 10.25)

    def _fake(self, cgroup_lines, files):
        root = tempfile.mkdtemp()
        os.makedirs(f"{root}/proc/42")
        with open(f"{root}/proc/42/cgroup", "w") as file:
            file.write("\n".join(cgroup_lines) + "\n")
        for path, text in files.items():
            os.makedirs(os.path.dirname(f"{root}/sys/{path}"), exist_ok=True)
            with open(f"{root}/sys/{path}", "w") as file:
                file.write(text)
        return root

    def test_cgroup_v1_walks_up_from_init_scope(self):
        cid = "abcdef0123456789" * 4
        root = self._fake(
            ["12:memory:/docker/%s/init.scope" % cid, "1:name=systemd:/docker/%s" % cid],
            {
                f"memory/docker/{cid}/memory.usage_in_bytes": "1000\n",
                f"memory/docker/{cid}/memory.stat": "cache 5\ntotal_inactive_file 300\n",
                f"memory/docker/{cid}/cgroup.procs": "1\n",
                f"memory/docker/{cid}/init.scope/cgroup.procs": "7\n8\n",
            },
        )
        directory = containers.memory_cgroup_dir(42, cid, f"{root}/proc", f"{root}/sys")
        self.assertEqual(directory, f"{root}/sys/memory/docker/{cid}")
        self.assertEqual(containers.cgroup_memory(directory), {"usage": 1000, "working_set": 700})
        self.assertEqual(containers.cgroup_pids(directory), [1, 7, 8])

    def test_cgroup_v2(self):
        cid = "0123456789ab" * 5
        root = self._fake(
            [f"0::/system.slice/docker-{cid}.scope"],
            {
                f"system.slice/docker-{cid}.scope/memory.current": "2048\n",
                f"system.slice/docker-{cid}.scope/memory.stat": "anon 1000\ninactive_file 48\n",
            },
        )
        directory = containers.memory_cgroup_dir(42, cid, f"{root}/proc", f"{root}/sys")
        self.assertEqual(directory, f"{root}/sys/system.slice/docker-{cid}.scope")
        self.assertEqual(containers.cgroup_memory(directory), {"usage": 2048, "working_set": 2000})

    def test_own_rss(self):
        found = containers.process_rss([os.getpid(), 999_999_999])
        self.assertEqual(len(found), 1)
        self.assertGreater(found[0][1], 0)


def fail(message):
    raise benchlib.BenchError(message)


def fail_with(error):
    raise error


class CleanUp(unittest.TestCase):
    def test_work_and_cleanup_both_run(self):
        done = []
        self.assertEqual(benchlib.then_clean_up("x", lambda: 7, lambda: done.append(1)), 7)
        self.assertEqual(done, [1])

    def test_a_failing_cleanup_does_not_hide_the_start_error(self):
        with self.assertRaises(benchlib.BenchError) as caught:
            benchlib.then_clean_up(
                "systemd", lambda: fail("start failed:\nno 200"), lambda: fail("--stop exited 1")
            )
        self.assertEqual(str(caught.exception), "systemd: no 200; cleaning up failed too: --stop exited 1")

    def test_cleanup_error_alone(self):
        with self.assertRaisesRegex(benchlib.BenchError, "^floor: cleaning up failed: .*No such file"):
            benchlib.then_clean_up("floor", lambda: 1, lambda: open("/nonexistent/x"))
        with self.assertRaisesRegex(benchlib.BenchError, "^cleaning up failed: OSError$"):
            benchlib.then_clean_up(None, lambda: 1, lambda: fail_with(OSError()))

    def test_cleanup_runs_after_an_interrupt(self):
        done = []

        def interrupted():
            raise KeyboardInterrupt

        with self.assertRaises(KeyboardInterrupt):
            benchlib.then_clean_up("x", interrupted, lambda: done.append(1))
        self.assertEqual(done, [1])


class Preflight(unittest.TestCase):
    def test_missing_run_script(self):
        with self.assertRaisesRegex(benchlib.BenchError, "^run script /nonexistent/run.sh is missing"):
            runscript.preflight("/nonexistent/run.sh --flag", "docker", 28082)

    def test_missing_tool(self):
        with self.assertRaisesRegex(benchlib.BenchError, "^no-such-tool-here is not installed"):
            runscript.preflight("/bin/true", "docker", 28082, tools=("no-such-tool-here",))

    def test_engine_that_does_not_answer(self):
        with self.assertRaisesRegex(benchlib.BenchError, "^false does not answer: `false info` exited 1"):
            runscript.preflight("/bin/true", "false", 28082)

    def test_busy_port(self):
        import socket

        with socket.socket() as listener:
            listener.bind(("127.0.0.1", 0))
            listener.listen()
            with self.assertRaisesRegex(benchlib.BenchError, "is in use"):
                runscript.refuse_busy_port(listener.getsockname()[1])


class Chart(unittest.TestCase):
    def test_well_formed_with_one_bar_per_approach(self):
        names = ["systemd", "supervisord", "separate"]
        series = {n: {"median": i + 1.0, "min": i + 0.5, "max": i + 1.5} for i, n in enumerate(names)}
        text = svgchart.chart("t <&>", [("a", "s", series), ("b", "MiB", series)], names, footnote="f")
        document = xml.dom.minidom.parseString(text)
        self.assertEqual(len(document.getElementsByTagName("rect")), 1 + 2 + 2 * 3)
        self.assertIn("t &lt;&amp;&gt;", text)

    def test_comparison_drops_a_panel_that_repeats_another(self):
        import compare

        same = {"x": {"median": 1.0, "min": 1.0, "max": 1.0}}
        other = {"x": {"median": 2.0, "min": 2.0, "max": 2.0}}
        near = {"x": {"median": 1.0, "min": 0.995, "max": 1.0}}
        panels = [
            ("memory", "MiB", same),
            ("working set", "MiB, minus cache", near),
            ("rss", "MiB", other),
            ("stop", "s", same),
        ]
        self.assertEqual([p[0] for p in compare.distinct_panels(panels)], ["memory", "rss", "stop"])

    def test_zero_values_do_not_divide_by_zero(self):
        series = {"x": {"median": 0.0, "min": 0.0, "max": 0.0}}
        xml.dom.minidom.parseString(svgchart.chart("z", [("a", "s", series)], ["x"]))


if __name__ == "__main__":
    unittest.main()
