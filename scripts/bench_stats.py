"""Shared by the benchmark scripts' table code (imported from scripts/): medians with their spread,
ratios of alternated runs, and markdown tables.

A ratio is computed per round (ours and the reference measured back to back in that round), and
the median of those per-round ratios is reported with their min–max: a machine's load drifting
during the run moves both sides of a round together, which a ratio of two medians would not
cancel."""

from __future__ import annotations

import statistics


def median(xs):
    return statistics.median(xs)


def spread(xs, fmt="{:.1f}"):
    """`median (min–max)` of xs, each formatted with fmt; a single value alone."""
    if len(xs) == 1:
        return fmt.format(xs[0])
    return f"{fmt.format(median(xs))} ({fmt.format(min(xs))}–{fmt.format(max(xs))})"


def ratios(ours, reference, higher_is_faster=False):
    """Per-round speed-ups of ours over the reference: reference/ours for times (the default),
    ours/reference for rates."""
    pairs = list(zip(ours, reference, strict=True))
    return [o / r if higher_is_faster else r / o for o, r in pairs]


def ratio_cell(rs):
    """`1.57× (1.50–1.62)`: the median of the per-round ratios and their min–max."""
    if len(rs) == 1:
        return f"{rs[0]:.2f}× (1 run: no spread)"
    return f"{median(rs):.2f}× ({min(rs):.2f}–{max(rs):.2f})"


def table(headers, rows):
    """A markdown table (cells are str()-ed)."""
    out = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(out) + "\n"
