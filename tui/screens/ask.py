"""A small modal that asks for one number: the iteration to go to, or a new learning rate."""
from __future__ import annotations

import math

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label


class AskNumber(ModalScreen[float | None]):
    """Returns the number typed (checked against lo..hi), or None on escape."""

    BINDINGS = [Binding("escape", "cancel", "cancel", priority=True)]

    def __init__(self, prompt: str, *, lo: float, hi: float, integer: bool, value: str = ""):
        super().__init__()
        self.prompt = prompt
        self.lo, self.hi, self.integer = lo, hi, integer
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical(id="ask-box"):
            yield Label(Text(self.prompt))
            yield Input(value=self.value, id="ask-input")
            yield Label("", id="ask-problem")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        try:
            x = int(text) if self.integer else float(text)
        except ValueError:
            self._problem(f"{text!r} is not a {'whole number' if self.integer else 'number'}")
            return
        if not (math.isfinite(x) and self.lo <= x <= self.hi):
            self._problem(f"must be from {self.lo:g} to {self.hi:g}")
            return
        self.dismiss(x)

    def _problem(self, text: str) -> None:
        self.query_one("#ask-problem", Label).update(Text(text))

    def action_cancel(self) -> None:
        self.dismiss(None)
