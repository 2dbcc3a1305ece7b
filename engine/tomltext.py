"""Where things are in a scenario's TOML text, and how to say what is wrong with it.

tomllib gives values, not positions, so lines are found by scanning the text; its parse errors
are reworded for a newcomer.
"""
from __future__ import annotations

import difflib
import re

from .errors import ScenarioError

_KEY = re.compile(r"""^(["']?)([^"'=\s.]+)\1\s*[=.]""")


def _header(line: str) -> tuple[str, str | None] | None:
    """(table, sub-key or None) of a [table], [table.key] or [[table]] header line, or None.

    Read by hand, in one pass: a regular expression with overlapping runs of spaces took quadratic
    time on a long line of spaces.
    """
    if not line.startswith("["):
        return None
    body = line[2:] if line.startswith("[[") else line[1:]
    end = body.find("]")
    if end < 0:
        return None
    parts = body[:end].split(".", 2)
    names = []
    for part in parts[:2]:
        name = part.strip()
        if len(name) >= 2 and name[0] == name[-1] and name[0] in "\"'":
            name = name[1:-1].strip()
        if not name or any(c in name for c in "\"'"):
            return None
        names.append(name)
    return names[0], (names[1] if len(names) > 1 else None)


def headers(lines: list[str]):
    """(line number, table, sub-key or None) for every [table] or [table.key] header."""
    for no, line in enumerate(lines, 1):
        h = _header(line.strip())
        if h:
            yield no, h[0], h[1]


def find_line(text: str, table: str | None, key: str | None) -> int | None:
    """The line where [table] key = ... (or [table.key]) is written, found by scanning the text."""
    if table is None:
        return None
    lines = text.splitlines()
    starts = list(headers(lines)) + [(len(lines) + 1, None, None)]
    if not any(t == table for _, t, _ in starts):
        # Not a [table] header: maybe written as 'table = ...' before the first header.
        for no in range(1, starts[0][0]):
            m = _KEY.match(lines[no - 1].strip())
            if m and m.group(2) == table:
                return no
        return None
    header = None
    for (no, t, sub), (end, _, _) in zip(starts, starts[1:]):
        if t != table:
            continue
        if header is None:
            header = no
        if key is None:
            return no
        if sub == key:
            return no
        if sub is None:
            for k in range(no, end - 1):
                m = _KEY.match(lines[k].strip())
                if m and m.group(2) == key:
                    return k + 1
    return header


_TOML_PROBLEMS = {
    "Invalid value": "the value after '=' is missing or not valid TOML (text needs quotes, "
                     "like \"relu(x)\"; lists need their closing ])",
    "Cannot overwrite a value": "this key is defined twice; every name must be unique",
    "Invalid statement": "this line is not a 'key = value' pair or a [table] header",
    "Unclosed array": "a list is missing its closing ]",
    "Unclosed inline table": "a { ... } table is missing its closing } (and must fit on one line)",
    "Unterminated string": "a string is missing its closing quote",
    "Expected '=' after a key in a key/value pair": "a key must be followed by '=' and a value",
    "Invalid initial character for a key part": "a key must start with a letter, a digit, _ or -",
}


def toml_error(text: str, raw: str) -> ScenarioError:
    """A tomllib error in a newcomer's words, with the table, key and line it points at."""
    m = re.search(r"\(at line (\d+), column (\d+)\)$", raw)
    reason = raw[:m.start()].strip() if m else raw
    line = int(m.group(1)) if m else None
    problem = _TOML_PROBLEMS.get(reason)
    if reason in ("Illegal character '\\n'", "Illegal character '\\r'"):
        problem = ("a string is missing its closing quote (a string in quotes must end on its own line; "
                   "use triple quotes \"\"\" for text over several lines)")
    if problem is None:
        problem = reason[0].lower() + reason[1:] if reason else "the file is not valid TOML"
    if reason.startswith("Cannot declare") or reason.startswith("Cannot redefine"):
        problem = "this table is declared twice; write each [table] once"
    table = key = None
    lines = text.splitlines()
    if line is not None and reason in ("Unclosed array", "Unclosed inline table"):
        # tomllib notices at the next line; the mistake is where the list or table was opened.
        opener = "[" if reason == "Unclosed array" else "{"
        for no in range(min(line, len(lines)), 0, -1):
            k = _KEY.match(lines[no - 1].strip())
            if k and opener in lines[no - 1].split("=", 1)[-1]:
                line = no
                break
    if line is not None:
        # A header on the error line counts only when the error is about that header.
        about_header = reason.startswith(("Cannot declare", "Cannot redefine", "Cannot mutate", "Expected ']"))
        for no, t, sub in headers(lines[:line if about_header else line - 1]):
            table, key = t, sub
        if 0 < line <= len(lines):
            k = _KEY.match(lines[line - 1].strip())
            if k and not lines[line - 1].strip().startswith("["):
                key = k.group(2)
    return ScenarioError(f"this is not valid TOML: {problem}", table=table, key=key, line=line)


MAX_SUGGEST_CANDIDATES = 500     # names compared for a did-you-mean (those closest in length)
MAX_SUGGEST_CHARS = 64           # longer words and names are not compared


def closest(word: str, choices, cutoff: float = 0.6) -> str | None:
    """The likeliest intended name for a typo, or None, in bounded time whatever the number of names.

    difflib against every name cost 46 s for one typo among 19,000 long names; only names of a
    similar length can be close, so at most MAX_SUGGEST_CANDIDATES of them are compared.
    """
    if not isinstance(word, str) or len(word) > MAX_SUGGEST_CHARS:
        return None
    n = len(word)
    near = [c for c in choices if isinstance(c, str) and abs(len(c) - n) <= max(3, n // 2)
            and len(c) <= MAX_SUGGEST_CHARS]
    if len(near) > MAX_SUGGEST_CANDIDATES:
        # A cheap bound first (characters in common, linear in the name), the full comparison after.
        m = difflib.SequenceMatcher()
        m.set_seq2(word)

        def quick(c: str) -> float:
            m.set_seq1(c)
            return m.quick_ratio()
        near = sorted(near, key=quick, reverse=True)[:MAX_SUGGEST_CANDIDATES]
    found = difflib.get_close_matches(word, near, n=1, cutoff=cutoff)
    return found[0] if found else None


def did_you_mean(word: str, choices, cutoff: float = 0.6) -> str:
    """" (did you mean 'scale'?)" for a likely typo, or nothing."""
    close = closest(word, choices, cutoff)
    return f" (did you mean {close!r}?)" if close else ""


def clip(text: str, width: int = 60) -> str:
    """Long user text shortened for a message."""
    return text if len(text) <= width else text[:width - 1] + "…"


def show(value, width: int = 60) -> str:
    """Any value from a file, as clipped text for a message: safe for integers past Python's 4,300-digit
    conversion limit (str() raises on those)."""
    try:
        text = f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)
    except ValueError:
        text = (f"a whole number of about {int(value.bit_length() * 0.30103):,} digits" if isinstance(value, int)
                else "a value holding a number too long to print")
    return clip(text, width)
