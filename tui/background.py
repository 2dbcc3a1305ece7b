"""Work that may take long off the UI thread, in a daemon thread: quitting never waits for it.

Textual's thread workers run in the event loop's executor, whose threads the interpreter joins at
exit: a huge scenario loading, or a gradient check of a big graph, would keep the process alive after q
with a blank screen. Loading and the gradient check run here instead; what they find comes back to
the UI thread with tell().
"""
from __future__ import annotations

import threading
from typing import Callable


def in_background(work: Callable[[], None], name: str) -> None:
    """Run work() in a daemon thread. It must touch no widget: it reports with tell()."""
    threading.Thread(target=work, name=f"gradstep {name}", daemon=True).start()


def tell(app, fn: Callable, *args) -> None:
    """Call fn(*args) on the UI thread, unless the app has already gone (quit while the work ran)."""
    if not app.is_running:
        return                   # quit while the work ran: nobody is left to tell
    try:
        app.call_from_thread(fn, *args)
    except Exception:            # it closed just now
        pass
