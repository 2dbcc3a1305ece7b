"""The file picker: scenarios in the bundled folder (or any folder typed), TOML files only."""
from __future__ import annotations

from pathlib import Path
from typing import Iterable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DirectoryTree, Input, Label

from gradstep.engine import visible


class ScenarioTree(DirectoryTree):
    """Folders and .toml files only; a file name is shown, never sent raw (it may hold escapes)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [p for p in paths if not p.name.startswith((".", "__")) and (p.is_dir() or p.suffix == ".toml")]

    def render_label(self, node, base_style, style) -> Text:
        label = super().render_label(node, base_style, style)
        if not label.plain.isprintable():
            label = Text(visible(label.plain, newlines=False), style=label.style)
        return label


class OpenScenario(ModalScreen[Path | None]):
    """Pick a scenario file: choose one in the tree, or type a path (a folder re-roots the tree)."""

    BINDINGS = [Binding("escape", "cancel", "cancel", priority=True)]

    def __init__(self, start: Path):
        super().__init__()
        self.start = start

    def compose(self) -> ComposeResult:
        with Vertical(id="picker-box"):
            yield Label(Text("Open a scenario: pick a .toml file, or type a path and press enter (escape cancels)"))
            yield Input(value=str(self.start) + "/", id="picker-path")
            yield ScenarioTree(self.start, id="picker-tree")
            yield Label("", id="picker-problem")

    def on_mount(self) -> None:
        self.query_one("#picker-box").border_title = "Open scenario"
        self.query_one(ScenarioTree).focus()

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.dismiss(Path(event.path))

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = Path(event.value.strip()).expanduser()
        if path.is_dir():
            self.query_one(ScenarioTree).path = path
            return
        if path.is_file():
            self.dismiss(path)
            return
        self.query_one("#picker-problem", Label).update(Text(f"{visible(str(path))}: no such file or folder"))

    def action_cancel(self) -> None:
        self.dismiss(None)
