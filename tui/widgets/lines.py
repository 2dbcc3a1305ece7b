"""LinePane: a scrolling pane of one-line rich Texts that renders only the rows on screen.

Every pane is rebuilt on each step, so the cost must be proportional to what is visible, not to
the size of the graph: rows are Texts (cheap to build), or made on demand by a pane that overrides
`row()` (the graph listing); Strips are made lazily per visible row and kept until the row changes.

A step must not relayout the screen: the row count changes the pane's virtual size without a layout
unless the pane's own height follows its content (height: auto, not yet at its cap) or a scrollbar
appears or disappears. A pane whose width changes (a resize, Maximize) asks the app to redraw, so
content laid out for a width (heatmaps, wrapped formulas) follows at once.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence

from rich.text import Text
from textual import events
from textual.geometry import Region, Size
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widget import Widget

def wrap(t: Text, width: int, indent: int = 4) -> list[Text]:
    """One long line as several of at most `width` cells, broken after a space where there is one, the
    continuation lines indented: a formula is read whole instead of cut at the pane's edge."""
    width = max(width, indent + 8)
    if t.cell_len <= width:
        return [t]
    out, pos, n, room = [], 0, len(t.plain), width
    while pos < n:
        end = pos + room
        if end < n:
            space = t.plain.rfind(" ", pos + 1, end + 1)
            end = space + 1 if space > pos else end
        piece = t[pos:end]
        piece.rstrip()
        if out:
            piece = Text(" " * indent, end="") + piece
        piece.no_wrap, piece.end = True, ""
        out.append(piece)
        pos, room = end, width - indent
        while pos < n and t.plain[pos] == " ":
            pos += 1
    return out


# Work done, for the regression guard (tests/tui/test_work_per_key.py): strips built by every pane.
WORK: Counter = Counter()


class LinePane(ScrollView, can_focus=True):
    """A ScrollView over a list of single-line Texts (or rows made on demand by `row()`)."""

    DEFAULT_CSS = """
    LinePane { overflow-x: hidden; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None):
        super().__init__(id=id, classes=classes)
        self._lines: list[Text] = []
        self._count = 0                          # rows in the pane
        self._strips: dict[int, Strip] = {}
        self._pass: tuple | None = None          # (style, width) while render_lines runs
        self._width = -1                         # the content width last laid out for
        self._listing: tuple[Sequence[int], Callable[[int], Text]] = ((), str)   # rows made on demand
        self._frozen: dict[int, Text] | None = None     # while a background run owns the Stepper

    @property
    def lines(self) -> list[Text]:
        """Every row as Text (made on demand for a pane that overrides row())."""
        return [self.row(i) for i in range(self._count)]

    def row(self, i: int) -> Text:
        """Row i's text; a pane that makes its rows on demand overrides this (and calls set_count)."""
        if i < len(self._lines):
            return self._lines[i]
        ids, make = self._listing
        return make(ids[i - len(self._lines)])

    def set_listing(self, head: list[Text], ids: Sequence[int], make: Callable[[int], Text]) -> None:
        """Rows: `head` (refreshed where it changed, as set_lines does), then one row per id, made by make(id)
        when it is on screen — a list of 20,000 nodes costs the rows shown, not 20,000 Texts per key."""
        old = self._lines
        self._lines = head
        self._listing = (ids, make)
        n = len(head)
        changed = [i for i in range(min(len(old), n)) if old[i] is not head[i] and old[i] != head[i]]
        changed += range(min(len(old), n), max(len(old), n))
        shown = self.visible_rows()
        self.keep_strips(shown)
        changed += [r for r in shown if r >= n]        # the listing's rows on screen are made again
        for i in changed:
            self._strips.pop(i, None)
        self._resize_rows(n + len(ids))
        self._refresh_rows(changed)

    def set_lines(self, lines: list[Text]) -> None:
        """Replace every row, refreshing only rows that changed."""
        if self._listing[0]:                       # it was a listing: every row may have changed
            self._listing = ((), str)
            self._lines = []
            self._strips.clear()
        old = self._lines
        self._lines = lines
        n_old, n = len(old), len(lines)
        changed = [i for i in range(min(n_old, n)) if old[i] is not lines[i] and old[i] != lines[i]]
        changed += range(min(n_old, n), max(n_old, n))
        for i in changed:
            self._strips.pop(i, None)
        self._resize_rows(n)
        self._refresh_rows(changed)

    def set_row(self, row: int, text: Text) -> None:
        """Replace one row."""
        if row >= len(self._lines):
            return
        self._lines[row] = text
        self._strips.pop(row, None)
        self._refresh_rows([row])

    def set_count(self, count: int) -> None:
        """For a pane that makes its rows on demand: how many there are now (forgets every strip)."""
        self._strips.clear()
        self._resize_rows(count)
        self.refresh()

    def forget_rows(self, rows) -> None:
        """For a pane that makes its rows on demand: these rows changed (redrawn if on screen)."""
        for r in rows:
            self._strips.pop(r, None)
        self._refresh_rows(rows)

    def keep_strips(self, rows: range) -> None:
        """Forget the strips of every row outside `rows` (a pane whose rows are made on demand)."""
        for r in [r for r in self._strips if r not in rows]:
            del self._strips[r]

    def freeze(self) -> None:
        """A background run owns the Stepper from now until thaw(): the rows on screen are made now, and a
        row the pane must draw meanwhile (a resize, the banner hidden) is drawn from them, or blank — a
        row made on demand never reads the Stepper while the run's thread changes it."""
        if self._frozen is None:
            self._frozen = {r: self.row(r) for r in self.visible_rows()}

    def thaw(self) -> None:
        """The run is over: rows are made from the Stepper again (the blanks drawn meanwhile are forgotten)."""
        if self._frozen is not None:
            self._frozen = None
            self._strips.clear()
            self.refresh()

    def visible_rows(self) -> range:
        """The rows on screen now."""
        top = round(self.scroll_offset.y)
        return range(top, min(self._count, top + max(0, self.scrollable_content_region.height)))

    def _resize_rows(self, count: int) -> None:
        """Set the row count. Rows never scroll sideways (overflow-x is hidden), so only the count sizes the
        pane, and a layout happens only when the pane's height or its scrollbar can change."""
        old, self._count = self._count, count
        if count == old:
            return
        size = Size(self.scrollable_content_region.width, count)
        if self._needs_layout(old, count):
            self.virtual_size = size
            self.refresh()
            return
        self.set_reactive(Widget.virtual_size, size)
        self._scroll_update(size)        # scrollbar sizes; a scrollbar shown or hidden relayouts by itself
        self.refresh()

    def _needs_layout(self, old: int, new: int) -> bool:
        if not self.is_mounted or not self.region:
            return True
        height = self.scrollable_content_region.height
        if self.styles.height is not None and self.styles.height.is_auto:
            # The pane grows and shrinks with its rows until its cap: both counts past what it shows
            # now means it is capped (scrolling) before and after.
            return not (old > height and new > height)
        return (old > height) != (new > height)

    def _refresh_rows(self, rows) -> None:
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

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width != self._width:
            self._width = width
            self._strips.clear()
            redraw = getattr(self.app, "schedule_redraw", None)
            if redraw is not None:
                redraw()                 # lines laid out for the old width are laid out again

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
        if row >= self._count:
            return Strip.blank(width, style)
        strip = self._strips.get(row)
        if strip is None:
            text = self.row(row) if self._frozen is None else self._frozen.get(row, Text(""))
            if len(text) > 2 * width + 8:             # never measure what the pane cannot show
                text = text[:2 * width + 8]
            text.end = ""
            strip = Strip(list(text.render(self.app.console)), text.cell_len)
            self._strips[row] = strip
            WORK["lines rendered"] += 1
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_style(style)
