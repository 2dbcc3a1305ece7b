"""The Updates pane: the optimizer's whole step for each param, line by line with numbers (for Adam:
g, m, v, m̂, v̂, Δw, w_new), and the update ratio ‖Δw‖/‖w‖. For the param just updated, what the step
changes (the state m, v or b, and Δw) shows in full when the pane has room: numbers, or a summary and
a heatmap (∂E/∂w has its own in the Gradients pane); the rest is one line each."""
from __future__ import annotations

import numpy as np
from rich.text import Text

from gradstep.engine import FULL, HealthSample, Phase, Stepper, UpdateInfo, fmt_num, fmt_shape

from ..palette import ACCENT, CHANGED, FAINT, GOOD, HIGHLIGHT, LABEL, MUTED, SHAPE
from . import tensorview
from .lines import LinePane

TALL = 12                 # a pane at least this tall shows heatmaps of the step just taken
SYMBOLS = {"momentum": "μ", "dampening": "τ", "weight_decay": "λ", "eps": "ε", "alpha": "α"}


def options(describe: dict) -> str:
    """The optimizer's options that matter, as the formulas name them: 'μ 0.9', 'β1 0.9 β2 0.999 ε 1e-08'."""
    out = []
    for key, value in describe.items():
        if key in ("name", "schedule"):
            continue
        if key == "betas":
            out.append(f"β1 {fmt_num(value[0])} β2 {fmt_num(value[1])}")
        elif key == "nesterov":
            out.append("Nesterov" if value else "")
        elif key in ("eps", "alpha") or value:
            out.append(f"{SYMBOLS.get(key, key)} {fmt_num(value)}")
    kinds = [s["kind"] for s in describe.get("schedule", ())]
    if kinds:
        out.append("schedule " + " × ".join(kinds))
    return "  ".join(x for x in out if x)


class UpdatesPane(LinePane):
    """One param at a time: its optimizer lines, the one just updated in full."""

    _shown: tuple | None = None      # what the lines were made from

    def show(self, st: Stepper, selected: int, health: HealthSample | None = None, *, ended: bool = False,
             digits: int | None = FULL) -> None:
        """ended: st stands at the end of an iteration just finished (Stepper.ended), and the pane says so;
        digits: the numbers of the selected param (else of the param just updated), FULL or this many
        significant digits; the other params keep short numbers."""
        p = st.program
        c = st.cursor
        width = max(10, self.scrollable_content_region.width)
        # Through a forward pass nothing here changes (no gradient, no update yet): a step there redraws
        # nothing (2-3 ms a key on the bundled attention block). Anything else that shows is in the key.
        iteration = c.iteration
        eta = st.eta_at(iteration)
        tall = self.scrollable_content_region.height >= TALL
        param = selected if 0 <= selected < len(p.nodes) and p.nodes[selected].kind == "param" else None
        key = (st, st.iteration, c.phase, c.index if c.phase is not Phase.FORWARD else -1, param, ended,
               digits, width, tall, eta, len(st.edits),
               None if health is None else tuple(sorted(health.update_ratio.items())))
        if key == self._shown:
            return
        self._shown = key
        describe = st.training.describe()
        plain = st.training.plain and not describe["schedule"]
        out = []
        head = Text(no_wrap=True, end="")
        if not p.params:
            head.append("no params: nothing to update", style=MUTED)
            self.set_lines([head])
            return
        head.append(describe["name"], style="bold")
        head.append(f"  η = {fmt_num(eta)}", style=f"bold {ACCENT}")
        if describe["name"] in ("adam", "adamw"):
            head.append(f"  t = {iteration}", style=ACCENT)
        if plain:
            head.append("   w ← w − η·∂E/∂w", style=MUTED)
        else:
            head.append(f"   {options(describe)}", style=MUTED)
        out.append(head)
        if ended:
            out.append(Text(f"iteration {iteration:,}, just finished (n goes on into {iteration + 1:,})", style=MUTED,
                            no_wrap=True, end=""))
        updates, shown = st.updates(), self._focus(st)   # the param just updated: its tensors in full
        ratios = health.update_ratio if health is not None else {}
        exact = selected if p.nodes[selected].kind == "param" else p.params[shown] if shown is not None else None
        focus = 0
        for k, u in enumerate(updates):
            node = p.nodes[u.param]
            is_next = c.phase is Phase.UPDATE and c.index == k
            if k == shown or (is_next and shown is None):
                focus = len(out)
            t = Text(no_wrap=True, end="")
            t.append("▶ " if is_next else "  ", style=CHANGED)
            t.append(node.name, style="bold")
            t.append(f"  {fmt_shape(node.shape)}", style=SHAPE)
            if u.eta != eta:
                t.append(f"  η = {fmt_num(u.eta)}", style=ACCENT)
            ratio = ratios.get(node.name)
            if u.new is not None:
                t.append("  updated", style=GOOD)
                if not tall and ratio is not None:      # a short pane cuts the ratio's own row: say it here
                    t.append(f"  ‖Δw‖/‖w‖ {fmt_num(ratio, 3)}", style=LABEL)
            elif is_next:
                t.append("  next", style=HIGHLIGHT)
            out.append(t)
            full = k == shown and tall
            out.extend(self._rows(u, st.training.slots(u.param), ratio, width, full=full,
                                  digits=digits if u.param == exact else 4))
        self.set_lines(out)
        # The param in focus at the top (else the head): where the pane stands depends on the step alone,
        # not on where it stood before, so a reverse twin brings the same lines back.
        top = min(focus, self.max_scroll_y)
        if round(self.scroll_offset.y) != top:
            self.scroll_to(y=top, animate=False, immediate=True)

    @staticmethod
    def _focus(st: Stepper) -> int | None:
        """The index of the param whose update ran last in this iteration."""
        c = st.cursor
        if c.phase is Phase.UPDATE and c.index > 0:
            return c.index - 1
        if c.phase is Phase.DONE:
            return len(st.program.params) - 1
        return None

    @staticmethod
    def _rows(u: UpdateInfo, slots: tuple[str, ...], ratio: float | None, width: int, full: bool,
              digits: int | None = 4) -> list[Text]:
        """w, then each optimizer line `quantity ← formula = value` (← for the state it keeps, m, v, b; the
        value on the next line when the formula leaves no room), then the update ratio. full: what the
        step changes (Δw, the state) in full, numbers or a summary and a heatmap."""
        rows = [("w", "", u.w)] + [(q, f, v) for q, f, v in u.lines]
        out = []
        for quantity, formula, value in rows:
            t = Text(no_wrap=True, end="")
            t.append(f"  {quantity}", style=LABEL)
            t.append(" " * max(1, 8 - t.cell_len))       # m̂ is two code points in one cell
            if formula:
                arrow = "←" if quantity in slots or (quantity == "w" and formula) else "="
                t.append(f"{arrow} {formula}", style=ACCENT)
            style = f"bold {GOOD}" if quantity == "w_new" else CHANGED if full else ""
            if value is None:
                t.append(" = —" if formula else "—", style=FAINT)
                out.append(t)
                continue
            room = width - t.cell_len - 3
            one = tensorview.short(value, max(10, room), digits)
            fits = len(one) <= room
            heat = full and (quantity == "Δw" or quantity in slots)     # what the step changes
            if fits and (not heat or np.size(value) <= tensorview.INLINE) or not (heat or formula):
                t.append(" = " if formula else "", style=FAINT)
                t.append(one, style=style)
                out.append(t)
            elif heat:                           # numbers, or a summary and a heatmap, under the line
                out.append(t)
                for line in tensorview.lines(value, width - 2, style, digits):
                    indented = Text("  ", no_wrap=True, end="")
                    indented.append_text(line)
                    out.append(indented)
            else:
                out.append(t)
                out.append(Text(f"    = {tensorview.short(value, width - 6, digits)}", style=style, no_wrap=True,
                                end=""))
        r = Text(no_wrap=True, end="")
        r.append("  ‖Δw‖/‖w‖ ", style=LABEL)
        r.append(fmt_num(ratio, 3) if ratio is not None else "—", style="" if ratio is not None else FAINT)
        out.append(r)
        return out
