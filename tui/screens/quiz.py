"""The quiz's modal: the question and a field for the answer; once answered, the step runs and the same box
shows the mark, the real value with its formula, and the score."""
from __future__ import annotations

from typing import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from ..palette import BAD, GOOD, MUTED
from ..quiz import Reveal, parse_answer


class QuizScreen(ModalScreen[None]):
    """Asks; enter marks and reveals (with no answer: reveals without a mark); escape asks later."""

    BINDINGS = [Binding("escape", "close", "close", priority=True)]
    DEFAULT_CSS = """
    QuizScreen { align: center middle; }
    #quiz-box { width: 90; max-width: 95%; height: auto; border: round $gs-border-strong; background: $surface;
                padding: 0 1; }
    #quiz-problem { color: $gs-error-text; }
    #quiz-reveal { display: none; height: auto; }
    QuizScreen.-revealed #quiz-reveal { display: block; }
    QuizScreen.-revealed #quiz-input { display: none; }
    """

    def __init__(self, prompt: tuple[str, str], answer: Callable[[str | None], Reveal]):
        super().__init__()
        self.title_text, self.question = prompt
        self.on_answer = answer
        self.reveal: Reveal | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="quiz-box"):
            yield Label(Text(self.question))
            yield Input(placeholder="your prediction: 2.5, -1e-3, 2/3 (enter with nothing reveals it)", id="quiz-input")
            yield Label("", id="quiz-problem")
            yield Static("", id="quiz-reveal")

    def on_mount(self) -> None:
        self.query_one("#quiz-box").border_title = self.title_text
        self.query_one(Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if self.reveal is not None:
            self.dismiss(None)
            return
        typed = event.value.strip()
        if typed:
            try:
                parse_answer(typed)
            except ValueError as e:
                self.query_one("#quiz-problem", Label).update(Text(str(e)))
                return
        self.show(self.on_answer(typed or None))

    def show(self, r: Reveal) -> None:
        self.reveal = r
        t = Text()
        if r.right is None:
            t.append("revealed\n", style=f"bold {MUTED}")
        elif r.right:
            t.append(f"✓ right: you said {r.answer}\n", style=f"bold {GOOD}")
        else:
            t.append(f"✗ not quite: you said {r.answer}\n", style=f"bold {BAD}")
        for line in r.lines:
            t.append(line + "\n")
        t.append(f"score: {r.score}", style="bold")
        t.append("   enter or escape closes", style=MUTED)
        self.query_one("#quiz-problem", Label).update("")
        self.query_one("#quiz-reveal", Static).update(t)
        self.add_class("-revealed")
        self.set_focus(None)          # the hidden input no longer takes the keys

    def on_key(self, event) -> None:
        if self.reveal is not None and event.key == "enter":
            event.stop()
            self.dismiss(None)

    def action_close(self) -> None:
        self.dismiss(None)
