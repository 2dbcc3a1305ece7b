"""LinePane: a scrolling pane of one-line rich Texts that renders only the rows on screen.

Every pane is rebuilt on each step, so the cost must be proportional to what is visible, not to
the size of the graph: rows are Texts (cheap to build), and Strips are made lazily per visible row.
"""
from __future__ import annotations

from rich.text import Text
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip


class LinePane(ScrollView, can_focus=True):
    """A ScrollView over a list of single-line Texts."""

    DEFAULT_CSS = """
    LinePane { overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._lines: list[Text] = []
        self._strips: dict[int, Strip] = {}
        self._pass: tuple | None = None          # (style, width) while render_lines runs

    @property
    def lines(self) -> list[Text]:
        return self._lines

    def set_lines(self, lines: list[Text]) -> None:
        """Replace every row, refreshing only rows that changed."""
        old = self._lines
        self._lines = lines
        changed = [i for i in range(max(len(old), len(lines)))
                   if i >= len(old) or i >= len(lines) or old[i] is not lines[i] and old[i] != lines[i]]
        for i in changed:
            self._strips.pop(i, None)
        # Rows never scroll sideways (overflow-x is hidden), so only the row count sizes the pane;
        # a width that followed the longest row would relayout the screen on almost every step.
        size = Size(self.scrollable_content_region.width, len(lines))
        if size != self.virtual_size:
            self.virtual_size = size
            self.refresh()
            return
        self._refresh_rows(changed)

    def set_row(self, row: int, text: Text) -> None:
        """Replace one row."""
        if row >= len(self._lines):
            return
        self._lines[row] = text
        self._strips.pop(row, None)
        self._refresh_rows([row])

    def _refresh_rows(self, rows: list[int]) -> None:
        top = round(self.scroll_offset.y)
        height = self.scrollable_content_region.height
        width = self.size.width
        for r in rows:
            if top <= r < top + height:
                self.refresh(Region(0, r - top, width, 1))

    def follow(self, row: int, margin: int = 1) -> None:
        """Scroll the least amount so that `row` is visible, with a little context."""
        height = self.scrollable_content_region.height
        if height <= 0:
            return
        top = round(self.scroll_offset.y)
        m = min(margin, max(0, (height - 1) // 2))
        if row - m < top:
            self.scroll_to(y=max(0, row - m), animate=False, immediate=True)
        elif row + m >= top + height:
            self.scroll_to(y=row + m - height + 1, animate=False, immediate=True)

    def render_lines(self, crop: Region) -> list[Strip]:
        # The pane's style and width are the same for every line of one pass; computing them walks
        # the DOM, so once per pass rather than once per line (a relayout re-renders every line).
        self._pass = (self.rich_style, self.scrollable_content_region.width)
        try:
            return super().render_lines(crop)
        finally:
            self._pass = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        style, width = self._pass or (self.rich_style, self.scrollable_content_region.width)
        if row >= len(self._lines):
            return Strip.blank(width, style)
        strip = self._strips.get(row)
        if strip is None:
            text = self._lines[row]
            text.end = ""
            strip = Strip(list(text.render(self.app.console)), text.cell_len)
            self._strips[row] = strip
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
