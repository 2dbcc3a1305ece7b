"""A modal that asks for one line of text and checks it on every key: a condition, a watch, a place to go."""
from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label

from ..palette import ERROR_TEXT, GOOD, MUTED


class Prompt(ModalScreen[str | None]):
    """Returns the text typed once check(text) finds no problem (enter), or None on escape.

    check returns a sentence naming what is wrong, or None; it runs on every key, and its sentence
    shows under the field, so a mistake is named before enter is pressed."""

    BINDINGS = [Binding("escape", "cancel", "cancel", priority=True)]

    def __init__(self, title: str, prompt: str, check: Callable[[str], str | None], *, value: str = "",
                 hint: str = ""):
        super().__init__()
        self.title_text = title
        self.prompt = prompt
        self.check = check
        self.value = value
        self.hint = hint
        self.problem: str | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Label(Text(self.prompt))
            yield Input(value=self.value, id="prompt-input")
            yield Label("", id="prompt-problem")
            if self.hint:
                yield Label(Text(self.hint, style=MUTED), id="prompt-hint")

    def on_mount(self) -> None:
        self.query_one("#prompt-box").border_title = self.title_text
        self.query_one(Input).focus()
        self._judge(self.value, typed=False)

    def on_input_changed(self, event: Input.Changed) -> None:
        self._judge(event.value, typed=True)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._judge(event.value, typed=True) is None:
            self.dismiss(event.value.strip())

    def _judge(self, text: str, typed: bool) -> str | None:
        """Check the text and say what is wrong (an empty field only hints, in grey)."""
        try:
            self.problem = self.check(text)
        except Exception as e:        # a checker that fails is a problem to show, not a crash
            self.problem = f"{type(e).__name__}: {e}"
        label = self.query_one("#prompt-problem", Label)
        if self.problem is None:
            label.update(Text("✓ ok: enter accepts", style=GOOD))
        else:
            style = ERROR_TEXT if typed and text.strip() else MUTED
            label.update(Text(self.problem, style=style))
        return self.problem

    def action_cancel(self) -> None:
        self.dismiss(None)
