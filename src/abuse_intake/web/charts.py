"""Server-rendered SVG charts (no script, nothing from another host); every label
is escaped. The pages print the same numbers in a table beside each chart."""

from __future__ import annotations

from markupsafe import Markup, escape

PALETTE = ("#b2182b", "#ef8a62", "#67a9cf", "#2166ac", "#7f7f7f", "#1b7837", "#762a83", "#e08214")


def stacked_bars(columns: list[str], series: list[str], value, *, title: str, width: int = 720,
                 height: int = 220) -> Markup:
    """One bar per column, stacked by series; value(column, series) -> int."""
    totals = [sum(value(c, s) for s in series) for c in columns]
    top = max(totals + [1])
    left, bottom, plot_h = 36, 40, height - 60
    step = (width - left - 10) / max(len(columns), 1)
    bar = max(step * 0.8, 1)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>',
             f'<text x="{left}" y="12" class="axis">max {top}</text>',
             f'<line x1="{left}" y1="{height - bottom}" x2="{width - 10}" y2="{height - bottom}" class="base"/>']
    for i, c in enumerate(columns):
        x = left + i * step
        y = height - bottom
        for j, s in enumerate(series):
            n = value(c, s)
            if not n:
                continue
            h = n / top * plot_h
            y -= h
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                         f'fill="{PALETTE[j % len(PALETTE)]}"><title>{escape(c)} {escape(s)}: {n}</title></rect>')
        if i % max(1, len(columns) // 6) == 0:
            parts.append(f'<text x="{x:.1f}" y="{height - bottom + 14}" class="axis">{escape(c[5:])}</text>')
    for j, s in enumerate(series):
        x = left + j * 130
        parts.append(f'<rect x="{x}" y="{height - 16}" width="10" height="10" fill="{PALETTE[j % len(PALETTE)]}"/>'
                     f'<text x="{x + 14}" y="{height - 7}" class="axis">{escape(s)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(items: list[tuple[str, int]], *, title: str, width: int = 360) -> Markup:
    """Horizontal bars, one per (label, number)."""
    top = max([n for _, n in items] + [1])
    row = 22
    height = row * len(items) + 10
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="chart" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}"><title>{escape(title)}</title>']
    for i, (label, n) in enumerate(items):
        y = 5 + i * row
        w = n / top * (width - 150)
        parts.append(f'<text x="0" y="{y + 14}" class="axis">{escape(label)}</text>'
                     f'<rect x="90" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{PALETTE[i % len(PALETTE)]}"/>'
                     f'<text x="{95 + w:.1f}" y="{y + 14}" class="axis">{n}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))
