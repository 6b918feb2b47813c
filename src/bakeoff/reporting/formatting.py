"""How numbers read in every table bakeoff writes (Markdown, HTML, the terminal): scores to
four significant digits, times and sizes to three with their unit, and one Markdown table
renderer (pandas' `to_markdown`)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def score(value: Any) -> str:
    """A metric value: 0.9649, 0.4612, 12.35 (RMSE in large units)."""
    return f"{value:.4g}" if _finite(value) else "" if value is None else str(value)


def signed(value: Any) -> str:
    """A difference of scores: +0.0123, -0.0004, +0.0000 (not +4.884e-05)."""
    if not _finite(value):
        return ""
    return f"{value:+.4f}" if abs(value) < 1e-3 else f"{value:+.4g}"


def plus_minus(mean: Any, half: Any) -> str:
    """A mean and the half-width of its interval: 0.9649 ± 0.0123."""
    return f"{score(mean)} ± {half:.2g}" if _finite(mean) and _finite(half) else score(mean)


def seconds(value: Any) -> str:
    """A duration: 850 ms, 1.23 s, 153 s, 2.4 min."""
    if not _finite(value):
        return ""
    if value < 1:
        return f"{value * 1000:.3g} ms"
    if value < 600:
        return f"{value:.3g} s"
    return f"{value / 60:.2g} min"


def milliseconds(value: Any) -> str:
    return seconds(value / 1000) if _finite(value) else ""


def megabytes(value: Any) -> str:
    """A size or memory figure: 0.42 MB, 12.3 MB, 1,530 MB."""
    if not _finite(value):
        return ""
    return f"{value:,.0f} MB" if value >= 1000 else f"{value:.3g} MB"


def count(value: Any) -> str:
    """A whole number with thousands separators: 75,234."""
    return f"{int(value):,}" if _finite(value) else ""


def p_value(value: Any) -> str:
    """0.031, 0.0004 -> 0.0004, 1.2e-07."""
    if not _finite(value):
        return ""
    return f"{value:.2g}"


def percent(value: Any) -> str:
    return f"{value:.0%}" if _finite(value) else ""


def markdown_table(
    header: Sequence[str], rows: Sequence[Sequence[Any]], align: str | None = None
) -> str:
    """A GitHub Markdown table of cells already formatted; `align`: one letter per column,
    l(eft) or r(ight) (default: the first column left, the rest right)."""
    align = align or "l" + "r" * (len(header) - 1)
    if len(align) != len(header):
        raise ValueError(f"align {align!r} has {len(align)} letters for {len(header)} columns")
    frame = pd.DataFrame([["" if v is None else str(v) for v in row] for row in rows])
    frame = frame.reindex(columns=range(len(header)))
    frame.columns = list(header)
    sides = {"l": "left", "r": "right"}
    return frame.to_markdown(index=False, disable_numparse=True, colalign=[sides[a] for a in align])


def wrap(text: str, width: int) -> str:
    """A sentence broken into lines of at most `width` characters."""
    import textwrap

    return "\n".join(textwrap.wrap(text, width=width, break_on_hyphens=False))
