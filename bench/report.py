"""Figures and the Markdown summary table that `python -m bench` ends with."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Figure:
    """One row of the summary: what was measured, the result, the target and whether it is met."""

    name: str
    measured: str
    target: str
    met: bool | None          # None: informational, no target

    @property
    def verdict(self) -> str:
        return {True: "yes", False: "**no**", None: "–"}[self.met]


def section(title: str) -> None:
    print(f"\n## {title}", flush=True)


def line(text: str) -> None:
    print(f"  {text}", flush=True)


def table(figures: list[Figure]) -> str:
    """The summary as a Markdown table."""
    rows = [("Figure", "Measured", "Target", "Met?")] + [(f.name, f.measured, f.target, f.verdict) for f in figures]
    widths = [max(len(r[c]) for r in rows) for c in range(4)]
    out = []
    for k, r in enumerate(rows):
        out.append("| " + " | ".join(cell.ljust(w) for cell, w in zip(r, widths)) + " |")
        if k == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def us(seconds: float) -> str:
    """Microseconds with sensible precision."""
    v = seconds * 1e6
    return f"{v:,.1f} µs" if v < 100 else f"{v:,.0f} µs"
