"""Keys answer within a frame, garbage collections included.

A full (generation 2) collection walks every object the process holds: Textual's widgets and styles,
the scenario's program, its history. Measured on the two-layer net it took 31–55 ms and landed on a
random key press every few seconds (bench/tui_scale.py's worst cases). Once a scenario is on screen,
what exists then is frozen out of the collector (gc.freeze, which costs nothing), so later collections
walk only what came after. Reference counting still frees everything as before; only cycles among
frozen objects wait. A reload thaws them at once, and a moment later (when whatever still held the old
scenario during the swap has let go) collects them and freezes the new scenario.
"""
from __future__ import annotations

import gc

AFTER_RELOAD = 1.0        # seconds from a reload to its collection


def thaw() -> None:
    """A reload is under way: what was frozen may now be garbage."""
    gc.unfreeze()


def settle(collect: bool) -> None:
    """Freeze what is alive now; first collect the cycles a replaced scenario left (collect=True)."""
    if collect:
        gc.collect()
    gc.freeze()


def after_load(app, first: bool) -> None:
    """A scenario is on screen: freeze after this frame (the first load), or thaw now and collect a moment
    later (a reload)."""
    if first:
        app.call_after_refresh(settle, False)
    else:
        thaw()
        app.set_timer(AFTER_RELOAD, lambda: settle(True))
