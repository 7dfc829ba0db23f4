"""Hand-written SVG bar charts: one panel per figure, approaches side by side, the median as a
bar and the min-max range of the rounds as a whisker. Stdlib only."""

from xml.sax.saxutils import escape

from benchlib import format_number

COLOURS = ["#4c72b0", "#dd8452", "#55a868", "#c44e52", "#8172b3", "#937860"]
PANEL_W, PANEL_H = 260, 210
MARGIN_TOP, MARGIN_BOTTOM, MARGIN_LEFT = 34, 36, 16


def _panel(x0, y0, title, unit, series, names):
    """series: {approach: {'median', 'min', 'max'}}; bars in the order of names."""
    parts = [
        f'<g transform="translate({x0},{y0})">',
        f'<rect x="0.5" y="0.5" width="{PANEL_W - 1}" height="{PANEL_H - 1}" fill="#fff" stroke="#ccc"/>',
        f'<text x="{PANEL_W / 2}" y="16" text-anchor="middle" font-size="12" font-weight="bold">'
        f"{escape(title)}</text>",
        f'<text x="{PANEL_W / 2}" y="28" text-anchor="middle" font-size="10" fill="#555">'
        f"{escape(unit)}</text>",
    ]
    top = max((series[n]["max"] for n in names if n in series), default=0) or 1.0
    plot_h = PANEL_H - MARGIN_TOP - MARGIN_BOTTOM - 12
    base_y = PANEL_H - MARGIN_BOTTOM
    slot = (PANEL_W - 2 * MARGIN_LEFT) / max(len(names), 1)
    bar_w = slot * 0.6
    parts.append(
        f'<line x1="{MARGIN_LEFT}" y1="{base_y}" x2="{PANEL_W - MARGIN_LEFT}" y2="{base_y}" stroke="#333"/>'
    )
    for index, name in enumerate(names):
        cx = MARGIN_LEFT + slot * (index + 0.5)
        parts.append(
            f'<text x="{cx:.1f}" y="{base_y + 14}" text-anchor="middle" font-size="10">{escape(name)}</text>'
        )
        if name not in series:
            parts.append(
                f'<text x="{cx:.1f}" y="{base_y - 4}" text-anchor="middle" font-size="10" '
                f'fill="#999">n/a</text>'
            )
            continue
        figure = series[name]
        height = plot_h * figure["median"] / top
        y_min = base_y - plot_h * figure["min"] / top
        y_max = base_y - plot_h * figure["max"] / top
        parts.append(
            f'<rect x="{cx - bar_w / 2:.1f}" y="{base_y - height:.1f}" width="{bar_w:.1f}" '
            f'height="{height:.1f}" fill="{COLOURS[index % len(COLOURS)]}">'
            f"<title>{escape(name)}: median {figure['median']:g}, range {figure['min']:g}-"
            f"{figure['max']:g} {escape(unit)}</title></rect>"
        )
        if figure["max"] > figure["min"]:
            parts.append(
                f'<path d="M{cx:.1f},{y_min:.1f}V{y_max:.1f}M{cx - 5:.1f},{y_min:.1f}'
                f'h10M{cx - 5:.1f},{y_max:.1f}h10" stroke="#222" fill="none"/>'
            )
        parts.append(
            f'<text x="{cx:.1f}" y="{min(base_y - height, y_max) - 4:.1f}" text-anchor="middle" '
            f'font-size="10">{format_number(figure["median"])}</text>'
        )
    parts.append("</g>")
    return "\n".join(parts)


def chart(title, panels, names, columns=3, footnote=""):
    """panels: [(title, unit, {approach: summary})]; returns the SVG document as text."""
    rows = (len(panels) + columns - 1) // columns
    width = columns * PANEL_W + (columns + 1) * 10
    height = 40 + rows * (PANEL_H + 10) + (24 if footnote else 4)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="#f8f8f8"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">{escape(title)}</text>',
    ]
    for index, (panel_title, unit, series) in enumerate(panels):
        x0 = 10 + (index % columns) * (PANEL_W + 10)
        y0 = 40 + (index // columns) * (PANEL_H + 10)
        parts.append(_panel(x0, y0, panel_title, unit, series, names))
    if footnote:
        parts.append(f'<text x="10" y="{height - 8}" font-size="10" fill="#555">{escape(footnote)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
