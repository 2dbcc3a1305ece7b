"""The Updates pane: for each param w, ∂E/∂w, η, the step −η·∂E/∂w and the new w."""
from __future__ import annotations

import numpy as np
from rich.text import Text

from gradstep.engine import Phase, Stepper, fmt_num, fmt_shape

from ..palette import ACCENT, CHANGED, FAINT, GOOD, HIGHLIGHT, MUTED, SHAPE
from . import tensorview
from .lines import LinePane


class UpdatesPane(LinePane):
    """Gradient descent, one param at a time: w ← w − η·∂E/∂w."""

    def show(self, st: Stepper) -> None:
        p = st.program
        c = st.cursor
        loss = p.nodes[p.loss].name
        width = max(10, self.scrollable_content_region.width)
        out = []
        head = Text(no_wrap=True, end="")
        head.append(f"η = {fmt_num(st.eta)}", style=f"bold {ACCENT}")
        head.append("   w ← w − η·∂E/∂w" if p.params else "   no params: nothing to update", style=MUTED)
        out.append(head)
        focus = 0
        for k, u in enumerate(st.updates()):
            node = p.nodes[u.param]
            is_next = c.phase is Phase.UPDATE and c.index == k
            if is_next:
                focus = len(out)
            t = Text(no_wrap=True, end="")
            t.append("▶ " if is_next else "  ", style=CHANGED)
            t.append(node.name, style="bold")
            t.append(f"  {fmt_shape(node.shape)}", style=SHAPE)
            if u.new is not None:
                t.append("  updated", style=GOOD)
            elif is_next:
                t.append("  next", style=HIGHLIGHT)
            out.append(t)
            step = None if u.grad is None else -u.eta * np.asarray(u.grad)
            rows = [("w", u.w, ""), (f"∂{loss}/∂w", u.grad, ""), ("−η·∂E/∂w", step, ""),
                    ("new w", u.new, f"bold {GOOD}")]
            for label, arr, style in rows:
                r = Text(no_wrap=True, end="")
                r.append(f"    {label:<9}", style=MUTED)
                if arr is None:
                    r.append("—" if label != "new w" else "— (not yet)", style=FAINT)
                else:
                    r.append(tensorview.short(arr, width - 13), style=style)
                out.append(r)
        self.set_lines(out)
        if focus:
            self.follow(focus + 4, margin=0)
            self.follow(focus, margin=0)
