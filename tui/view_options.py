"""How things are shown, not what: digits (every digit of the selected node's numbers, or 4), and the
loss curve's scale and range. Nothing here moves the Stepper."""
from __future__ import annotations

import re
from typing import TYPE_CHECKING

from gradstep.engine import FULL

if TYPE_CHECKING:
    from .app import GradstepApp

SHORT = 4                 # significant digits when the full ones are toggled off


def toggle_digits(app: GradstepApp) -> None:
    """d: the selected node's numbers with every digit, or with SHORT significant digits."""
    app.digits = SHORT if app.digits is FULL else FULL
    app.notify("every digit of the selected node's numbers" if app.digits is FULL else
               f"numbers to {SHORT} significant digits", timeout=2)
    app.schedule_redraw()


def toggle_log(app: GradstepApp) -> None:
    """l: the loss curve in log scale, or linear."""
    curve = app.main.curve
    curve.set_scale(log=not curve.log_scale)


def parse_range(text: str, last: int) -> tuple[int, int] | None:
    """'200-300', '200 300' or '200..300' (iterations, 1-based, inclusive), or '' / 'all' for every one;
    raises ValueError with a sentence."""
    text = text.strip().lower()
    if text in ("", "all"):
        return None
    m = re.fullmatch(r"(\d{1,9})\s*(?:-|\.\.|\s)\s*(\d{1,9})", text)
    if m is None:
        raise ValueError("two iterations, as in 200-300 (or all)")
    a, b = int(m[1]), int(m[2])
    if not 1 <= a < b:
        raise ValueError("the first iteration is at least 1 and before the second")
    if a > last:
        raise ValueError(f"the curve has {last:,} iteration{'s' if last != 1 else ''} so far")
    return a, b


def ask_zoom(app: GradstepApp) -> None:
    """Z: show a range of iterations of the loss curve (or all of them again)."""
    from .screens.prompt import Prompt
    curve = app.main.curve
    last = max(1, len(curve.losses))

    def check(text: str) -> str | None:
        try:
            parse_range(text, last)
        except ValueError as e:
            return str(e)
        return None
    now = f"{curve.zoom[0]}-{curve.zoom[1]}" if curve.zoom else ""
    app.ask(Prompt("Zoom the loss curve", f"Iterations to show (1 to {last:,} so far), or all:", check, value=now,
                   hint="200-300: iterations 200 to 300;  all (or nothing): every iteration"),
            lambda text: curve.set_zoom(parse_range(text, last)))
