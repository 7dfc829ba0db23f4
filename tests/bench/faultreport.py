"""The faults benchmark's report: faults.md (the table) and faults.svg (the chart) from the
run it recorded (faults.json)."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import BenchError, RENDER_ERRORS, conditions_line, read_run, summarize, write_outputs  # noqa: E402
from faultinject import FAULTS  # noqa: E402
import faultstats  # noqa: E402
import loadgen  # noqa: E402
import svgchart  # noqa: E402

FIGURES = [  # (key, title, unit, scale) of the chart panels, per fault
    ("longest_gap_s", "longest gap without a 200", "s", 1.0),
    ("back_s", "time until serving again", "s", 1.0),
    ("failed", "failed requests", "per round", 1.0),
    ("p99_ms", "p99 latency", "ms", 1.0),
]


def summarize_run(results):
    summary = {}
    for approach, run in results.items():
        by_fault = {}
        for window in run["windows"]:
            by_fault.setdefault(window["fault"], []).append(window)
        summary[approach] = {fault: faultstats.summarize_fault(rounds) for fault, rounds in by_fault.items()}
    return summary


def _range(figure, scale=1.0, digits=2):
    if figure is None:
        return "n/a"
    median, low, high = (figure[k] * scale for k in ("median", "min", "max"))
    if low == high:
        return f"{median:.{digits}f}"
    return f"{median:.{digits}f} ({low:.{digits}f}–{high:.{digits}f})"


def client_cell(figures):
    """The client's time to poll again over the rounds, and the rounds it never did:
    "0.39", "0.39; 1 round never", "n/a; 3 rounds never"."""
    cell = _range(figures.get("client_back_s"))
    never = figures.get("client_not_back", 0)
    if never:
        cell += f"; {never} round{'s' if never > 1 else ''} never"
    return cell


def markdown(run):
    args = run["args"]
    results = run["results"]
    summary = summarize_run(results)
    lines = [f"{args['rounds']} round(s) per approach on {run['facts']['engine']}. Streams from the host "
             f"through the published port: a fresh connection per request at {args['rate']:g}/s and "
             f"one kept-alive connection every {args['kept_interval'] * 1000:g} ms; request timeout "
             f"{args['timeout']:g} s. A fault's window runs from its injection until the approach "
             f"has served {args['quiet']:g} s without a failure. Counts are totals over the rounds; "
             "times are the median (min–max) of the rounds.", "",
             "| approach | fault | sent | failed | refused | reset | timeout | 5xx | other | "
             "longest gap (s) | serving again (s) | p99 (ms) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for approach, faults in summary.items():
        for fault, figures in faults.items():
            failed = figures["failed"]
            back = _range(figures["back_s"])
            if figures["not_back"]:
                back += f", {figures['not_back']} round(s) not back within {args['fault_timeout']:g} s"
            if fault == "client-kill":
                back += f"; client polling again: {client_cell(figures)}"
            lines.append(f"| {approach} | {fault} | {figures['sent']} | {sum(failed.values())} | "
                         + " | ".join(str(failed[k]) for k in loadgen.FAILURE_KINDS)
                         + f" | {_range(figures['longest_gap_s'])} | {back} | {_range(figures['p99_ms'], digits=1)} |")
    lines += ["", "| approach | availability (answered / sent, whole run) | p99 before the faults (ms) |",
              "|---|---|---|"]
    for approach, result in results.items():
        share = result["ok"] / result["sent"] if result["sent"] else 0.0
        note = f"; {result['repairs']} restart(s) by the benchmark left out" if result["repairs"] else ""
        if result.get("skipped"):
            note += f"; {result['skipped']} fresh requests not sent: the load generator was starved of CPU"
        baseline = result["baseline_p99_ms"]
        lines.append(f"| {approach} | {share * 100:.3f} % ({result['ok']} / {result['sent']}{note}) | "
                     f"{'n/a' if baseline is None else f'{baseline:.1f}'} |")
    lines += ["", "Host: " + ", ".join(f"{k} {v}" for k, v in run["facts"].items()), ""]
    return "\n".join(lines)


def failed_per_round(result, fault):
    """Median/min/max over the rounds of one approach's failed requests in a fault: the same
    median as the table's figures (benchlib.summarize)."""
    return summarize([sum(w["failed"].values()) for w in result["windows"] if w["fault"] == fault])


def svg(run):
    summary = summarize_run(run["results"])
    approaches = list(run["results"])
    faults = [f for f in FAULTS if any(f in summary[a] for a in approaches)]
    panels = []
    for key, title, unit, scale in FIGURES:
        for fault in faults:
            series = {}
            for approach in approaches:
                figures = summary[approach].get(fault)
                if figures is None:
                    continue
                if key == "failed":
                    series[approach] = failed_per_round(run["results"][approach], fault)
                elif figures[key] is not None:
                    series[approach] = {k: figures[key][k] * scale for k in ("median", "min", "max")}
            panels.append((f"{fault}: {title}", unit, series))
    series = {a: {k: 100.0 * r["ok"] / r["sent"] for k in ("median", "min", "max")}
              for a, r in run["results"].items() if r["sent"]}
    panels.append(("availability, whole run", "% answered", series))
    footnote = (f"bars: median of {run['args']['rounds']} round(s); whiskers: min-max. "
                f"{run['facts']['engine']}, cgroup {run['facts']['cgroup']}, {run['facts']['cpus']} CPUs")
    # faults.json files from before the spec measured duet and do not say so.
    return svgchart.chart(f"{run.get('pair', 'duet')}: serving through faults", panels, approaches,
                          columns=len(faults), footnote=footnote)


def render(path, out):
    """Writes faults.md and faults.svg from a faults.json; returns the table."""
    run = read_run(path, "faults.json", ("facts", "args", "results"))
    try:
        table, chart = conditions_line(run) + "\n\n" + markdown(run), svg(run)
    except RENDER_ERRORS as error:
        raise BenchError(f"{path}: not a faults.json of this tool: {type(error).__name__}: {error}") from None
    write_outputs(out, {"faults.md": table, "faults.svg": chart})
    return table
