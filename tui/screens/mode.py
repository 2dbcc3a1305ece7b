"""The mode picker: reverse mode, or forward mode seeded at one input (picked from the list) or along a
random direction."""
from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from gradstep.engine import Mode, Stepper, tangent_name, visible

from ..palette import MUTED


@dataclass(frozen=True)
class ModeChoice:
    """A mode and, for forward mode, its seed: one input's name, or a random direction."""

    mode: Mode
    seed_input: str | None = None
    random: bool = False

    def describe(self) -> str:
        if self.mode is Mode.REVERSE:
            return "reverse mode"
        return "forward mode, " + (f"seeded at {self.seed_input}" if self.seed_input else "along a random direction")


def choices(st: Stepper) -> list[tuple[ModeChoice, str]]:
    """Every choice the picker offers, with its line: reverse, each seedable input, then a random direction."""
    out = [(ModeChoice(Mode.REVERSE), "reverse mode: one backward pass gives every gradient")]
    p = st.program
    for name in st.seedable_inputs():
        node = p.node(name)
        ones = "1" if node.size == 1 else f"1 in all {node.size:,} elements"
        out.append((ModeChoice(Mode.FORWARD, seed_input=name),
                    f"forward mode, seed {tangent_name(name)} = {ones} ({node.kind} {name})"))
    out.append((ModeChoice(Mode.FORWARD, random=True),
                f"forward mode along a random direction v (seed {st.scenario.seed}): Ė = ⟨∇E, v⟩"))
    return out


class ModePicker(ModalScreen[ModeChoice | None]):
    """Returns the ModeChoice picked, or None on escape."""

    BINDINGS = [Binding("escape,m", "cancel", "cancel", priority=True)]
    DEFAULT_CSS = """
    ModePicker { align: center middle; }
    #mode-box { width: 90; max-width: 95%; height: auto; max-height: 90%; border: round $gs-border-strong;
                background: $surface; padding: 0 1; }
    #mode-list { height: auto; max-height: 20; }
    """

    def __init__(self, st: Stepper):
        super().__init__()
        self.options = choices(st)
        current = ModeChoice(st.mode, st.seed.input if st.seed else None,
                             st.seed is not None and st.seed.input is None)
        self.start = next((k for k, (c, _) in enumerate(self.options) if c == current), 0)

    def compose(self) -> ComposeResult:
        with Vertical(id="mode-box"):
            yield Label(Text("Forward mode carries a tangent ẋ beside each value, seeded at one input; "
                             "reverse mode passes gradients back from the loss."))
            yield OptionList(*[Option(Text(visible(line, newlines=False)), id=str(k))
                               for k, (_, line) in enumerate(self.options)], id="mode-list")
            yield Label(Text("enter picks, escape cancels", style=MUTED))

    def on_mount(self) -> None:
        self.query_one("#mode-box").border_title = "Mode"
        listing = self.query_one(OptionList)
        listing.highlighted = self.start
        listing.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.options[int(event.option.id)][0])

    def action_cancel(self) -> None:
        self.dismiss(None)
