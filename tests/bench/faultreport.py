"""The faults benchmark's report: faults.md (the table) and faults.svg (the chart) from the
run it recorded (faults.json)."""

from benchlib import BenchError, RENDER_ERRORS, conditions_line, read_run, summarize, write_outputs
from faultinject import FAULTS
import faultstats
import loadgen
import svgchart
from xml.sax.saxutils import escape

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
    lines = [
        f"{args['rounds']} round(s) per approach on {run['facts']['engine']}. Streams from the host "
        f"through the published port: a fresh connection per request at {args['rate']:g}/s and "
        f"one kept-alive connection every {args['kept_interval'] * 1000:g} ms; request timeout "
        f"{args['timeout']:g} s. A fault's window runs from its injection until the approach "
        f"has served {args['quiet']:g} s without a failure. Counts are totals over the rounds; "
        "times are the median (min–max) of the rounds.",
        "",
        "| approach | fault | sent | failed | refused | reset | timeout | 5xx | other | "
        "longest gap (s) | serving again (s) | p99 (ms) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for approach, faults in summary.items():
        for fault, figures in faults.items():
            failed = figures["failed"]
            back = _range(figures["back_s"])
            if figures["not_back"]:
                back += f", {figures['not_back']} round(s) not back within {args['fault_timeout']:g} s"
            if fault == "client-kill":
                back += f"; client polling again: {client_cell(figures)}"
            lines.append(
                f"| {approach} | {fault} | {figures['sent']} | {sum(failed.values())} | "
                + " | ".join(str(failed[k]) for k in loadgen.FAILURE_KINDS)
                + f" | {_range(figures['longest_gap_s'])} | {back} | {_range(figures['p99_ms'], digits=1)} |"
            )
    lines += [
        "",
        "| approach | availability (answered / sent, whole run) | p99 before the faults (ms) |",
        "|---|---|---|",
    ]
    for approach, result in results.items():
        share = result["ok"] / result["sent"] if result["sent"] else 0.0
        note = f"; {result['repairs']} restart(s) by the benchmark left out" if result["repairs"] else ""
        if result.get("skipped"):
            note += f"; {result['skipped']} fresh requests not sent: the load generator was starved of CPU"
        baseline = result["baseline_p99_ms"]
        lines.append(
            f"| {approach} | {share * 100:.3f} % ({result['ok']} / {result['sent']}{note}) | "
            f"{'n/a' if baseline is None else f'{baseline:.1f}'} |"
        )
    lines += ["", "Host: " + ", ".join(f"{k} {v}" for k, v in run["facts"].items()), ""]
    return "\n".join(lines)


def failed_per_round(result, fault):
    """Median/min/max over the rounds of one approach's failed requests in a fault: the same
    median as the table's figures (benchlib.summarize)."""
    return summarize([sum(w["failed"].values()) for w in result["windows"] if w["fault"] == fault])


def bar_svg(run):
    """The chart of a faults.json without per-request timelines: one bar panel per fault and figure."""
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
    series = {
        a: {k: 100.0 * r["ok"] / r["sent"] for k in ("median", "min", "max")}
        for a, r in run["results"].items()
        if r["sent"]
    }
    panels.append(("availability, whole run", "% answered", series))
    footnote = (
        f"bars: median of {run['args']['rounds']} round(s); whiskers: min-max. "
        f"{run['facts']['engine']}, cgroup {run['facts']['cgroup']}, {run['facts']['cpus']} CPUs"
    )
    # faults.json files from before the spec measured duet and do not say so.
    return svgchart.chart(
        f"{run.get('pair', 'duet')}: serving through faults",
        panels,
        approaches,
        columns=len(faults),
        footnote=footnote,
    )


LANE_LABEL_W, CELL_W, LANE_H, HALF_H = 104, 126, 76, 30
SPAN_CAP_S = 10.0  # the x axis ends here even when a window ran longer


def lane_sums(windows, fault):
    """(ok, failed) per bin summed over the rounds of one fault (their timelines all start
    the same time before the injection), and the number of rounds."""
    ok, failed, rounds = [], [], 0
    for window in windows:
        if window["fault"] != fault or "timeline" not in window:
            continue
        rounds += 1
        line = window["timeline"]
        for total, counts in ((ok, line["ok"]), (failed, line["failed"])):
            total.extend([0] * (len(counts) - len(total)))
            for index, count in enumerate(counts):
                total[index] += count
    return ok, failed, rounds


def _area(counts, x0, bin_px, base, scale, direction, last_bin):
    """An SVG path of a step area from base, up (direction -1) or down (+1)."""
    points = [f"M{x0:.1f},{base:.1f}"]
    for index, count in enumerate(counts[:last_bin]):
        y = base + direction * min(count * scale, HALF_H)  # a burst above the scale is cut
        points.append(f"L{x0 + index * bin_px:.1f},{y:.1f}L{x0 + (index + 1) * bin_px:.1f},{y:.1f}")
    points.append(f"L{x0 + min(len(counts), last_bin) * bin_px:.1f},{base:.1f}Z")
    return "".join(points)


def svg(run):
    """One lane per approach, one column per fault: requests answered (up, green) and failed
    (down, red) per 0.1 s around the injection (dashed line), summed over the rounds. A
    faults.json without timelines gets the bar panels (bar_svg)."""
    results = run["results"]
    approaches = list(results)
    if not all("timeline" in w for a in approaches for w in results[a]["windows"]):
        return bar_svg(run)
    faults = [f for f in FAULTS if any(w["fault"] == f for a in approaches for w in results[a]["windows"])]
    sums = {(a, f): lane_sums(results[a]["windows"], f) for a in approaches for f in faults}
    first = results[approaches[0]]["windows"][0]["timeline"]
    before, bin_s = -first["from_s"], first["bin_s"]
    longest = max(len(ok) for ok, _failed, _rounds in sums.values()) * bin_s - before
    span = min(SPAN_CAP_S, max(1.0, longest))
    last_bin = int(round((span + before) / bin_s))
    # The scale: twice the answers per bin before the faults, so that the steady stream fills
    # half of its half-lane; bursts (held requests answered at once, fast resets) are cut.
    steady = sorted(n for ok, _f, rounds in sums.values() for n in ok[: int(round(before / bin_s))] if rounds)
    top = max(2 * (steady[len(steady) // 2] if steady else 0), 1)
    scale = HALF_H / top
    bin_px = (CELL_W - 3) / last_bin
    header, footer = 74, 46
    width = LANE_LABEL_W + CELL_W * len(faults) + 10
    height = header + LANE_H * len(approaches) + footer
    summary = summarize_run(results)
    facts = run["facts"]
    when = (run.get("measured") or {}).get("from_utc", "date not recorded")
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#fff"/>',
        f'<text x="10" y="22" font-size="15" font-weight="bold">'
        f"{escape(run.get('pair', 'duet'))}: what a user sees through each fault</text>",
        f'<text x="10" y="40" font-size="11" fill="#444">requests answered '
        f'<tspan fill="#2e8b57" font-weight="bold">(up)</tspan> and failed '
        f'<tspan fill="#c0392b" font-weight="bold">(down)</tspan> per {bin_s:g} s, sum of '
        f"{run['args']['rounds']} round(s); dashed: the fault injected</text>",
    ]
    for column, fault in enumerate(faults):
        cx = LANE_LABEL_W + column * CELL_W + CELL_W / 2
        parts.append(
            f'<text x="{cx:.1f}" y="{header - 8}" text-anchor="middle" font-size="11" '
            f'font-weight="bold">{escape(fault)}</text>'
        )
    for row, approach in enumerate(approaches):
        y0 = header + row * LANE_H
        base = y0 + LANE_H / 2
        parts.append(
            f'<text x="8" y="{base + 4:.1f}" font-size="12" font-weight="bold">{escape(approach)}</text>'
        )
        for column, fault in enumerate(faults):
            x0 = LANE_LABEL_W + column * CELL_W
            ok, failed, rounds = sums[(approach, fault)]
            parts.append(
                f'<rect x="{x0 + 0.5}" y="{y0 + 2}" width="{CELL_W - 3}" height="{LANE_H - 4}" '
                f'fill="{"#f6f6f6" if row % 2 else "#fbfbfb"}" stroke="#ddd"/>'
            )
            if not rounds:
                parts.append(
                    f'<text x="{x0 + CELL_W / 2:.1f}" y="{base + 4:.1f}" text-anchor="middle" '
                    f'font-size="10" fill="#999">n/a</text>'
                )
                continue
            parts.append(f'<path d="{_area(ok, x0, bin_px, base, scale, -1, last_bin)}" fill="#2e8b57"/>')
            parts.append(f'<path d="{_area(failed, x0, bin_px, base, scale, 1, last_bin)}" fill="#c0392b"/>')
            parts.append(
                f'<line x1="{x0}" y1="{base:.1f}" x2="{x0 + CELL_W - 3}" y2="{base:.1f}" stroke="#888" '
                f'stroke-width="0.5"/>'
            )
            fx = x0 + before / bin_s * bin_px
            parts.append(
                f'<line x1="{fx:.1f}" y1="{y0 + 4}" x2="{fx:.1f}" y2="{y0 + LANE_H - 4}" '
                f'stroke="#222" stroke-dasharray="3,2"/>'
            )
            lost = sum(summary[approach][fault]["failed"].values())
            parts.append(
                f'<rect x="{x0 + CELL_W - 64}" y="{y0 + LANE_H - 18}" width="58" height="14" '
                f'fill="#fff" fill-opacity="0.85"/>'
            )
            parts.append(
                f'<text x="{x0 + CELL_W - 6}" y="{y0 + LANE_H - 7}" text-anchor="end" font-size="10" '
                f'fill="{"#c0392b" if lost else "#555"}">{lost} failed</text>'
            )
    axis_y = header + LANE_H * len(approaches) + 12
    for column in range(len(faults)):
        x0 = LANE_LABEL_W + column * CELL_W
        for second in range(0, int(span) + 1, 2 if span > 5 else 1):
            x = x0 + (second + before) / bin_s * bin_px
            parts.append(
                f'<text x="{x:.1f}" y="{axis_y}" text-anchor="middle" font-size="9" fill="#555">'
                f"{second}</text>"
            )
    parts.append(
        f'<text x="{LANE_LABEL_W}" y="{axis_y + 14}" font-size="10" fill="#555">seconds from the '
        f"injection; half a lane: {top} requests per {bin_s:g} s (taller bursts are cut)</text>"
    )
    parts.append(
        f'<text x="{LANE_LABEL_W}" y="{axis_y + 28}" font-size="10" fill="#555">'
        f"{escape(facts['engine'])}, cgroup {escape(facts['cgroup'])}, {facts['cpus']} CPUs, "
        f"{escape(when)} UTC</text>"
    )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def render(path, out):
    """Writes faults.md and faults.svg from a faults.json; returns the table."""
    run = read_run(path, "faults.json", ("facts", "args", "results"))
    try:
        table, chart = conditions_line(run) + "\n\n" + markdown(run), svg(run)
    except RENDER_ERRORS as error:
        raise BenchError(f"{path}: not a faults.json of this tool: {type(error).__name__}: {error}") from None
    write_outputs(out, {"faults.md": table, "faults.svg": chart})
    return table
