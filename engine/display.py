"""The one place that formats tensors for people: numbers, summaries and shapes."""
from __future__ import annotations

import numpy as np

from .shapes import fmt as fmt_shape

__all__ = ["FULL", "fmt_num", "fmt_shape", "format_tensor", "summary", "stats", "visible", "clip_title"]

# Characters that reorder or hide text on a terminal: the bidi embeddings, overrides and isolates.
_BIDI = frozenset([0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A)])
TITLE_CHARS = 200          # a title is shown clipped to this many characters


def visible(text: str, *, newlines: bool = True) -> str:
    """Text that came from a file, made safe to show or print: nothing in it reaches the terminal raw.

    ESC and the other C0 controls become their visible symbols (␛, ␇...), DEL ␡, the C1 controls
    (CSI is 0x9b) \x9b, and bidi controls <U+202E>. Newlines stay unless newlines=False (then ⏎);
    a tab stays. Every channel (the CLI's text output and errors, the TUI's panes, DOT labels) shows
    scenario text through this one function.
    """
    if text.isprintable():
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if ch == "\n":
            out.append(ch if newlines else "⏎")
        elif ch == "\t":
            out.append(ch)
        elif o < 0x20:
            out.append(chr(0x2400 + o))
        elif o == 0x7F:
            out.append("␡")
        elif 0x80 <= o <= 0x9F:
            out.append(f"\\x{o:02x}")
        elif o in _BIDI or o in (0x2028, 0x2029):
            out.append(f"<U+{o:04X}>")
        else:
            out.append(ch)
    return "".join(out)


def clip_title(text: str, width: int = TITLE_CHARS) -> str:
    """A title or name for one line: made visible, on one line, and clipped."""
    t = visible(text, newlines=False)
    return t if len(t) <= width else t[:width - 1] + "…"


FULL = None                # digits=FULL: every digit float64 holds, as Python's repr prints it


def fmt_num(x: float, digits: int | None = 4) -> str:
    """A number in at most `digits` significant digits: 0.628, -4.103, 1.2e-07, nan; with digits=FULL the
    shortest text that reads back to the same float64 (repr): 2.177273044783055."""
    if isinstance(x, np.ndarray):
        if x.size != 1:
            raise TypeError(f"fmt_num formats one number, got an array of shape {fmt_shape(x.shape)}")
        x = x.reshape(-1)[0]        # a (1,) or (1, 1) array is still one number; NumPy 2 refuses float()
    x = float(x)
    if x != x:
        return "nan"
    if x in (float("inf"), float("-inf")):
        return "inf" if x > 0 else "-inf"
    if x == 0:
        return "0"
    if digits is FULL:
        return repr(x)
    s = f"{x:.{digits}g}"
    return s


def stats(a: np.ndarray) -> dict[str, float]:
    """min, max, mean and L2 norm (over the finite entries) and the count of non-finite ones."""
    a = np.asarray(a, dtype=np.float64)
    fin = a[np.isfinite(a)] if a.size else a
    out = {"min": float(fin.min()) if fin.size else float("nan"),
           "max": float(fin.max()) if fin.size else float("nan"),
           "mean": float(fin.mean()) if fin.size else float("nan"),
           "norm": float(np.linalg.norm(fin)) if fin.size else float("nan"),
           "nonfinite": int(a.size - fin.size)}
    return out


def summary(a: np.ndarray, digits: int = 3) -> str:
    """'(10, 100) min -2.1 max 2.3 mean 0.01 norm 9.9', the way pudb shows an ndarray."""
    a = np.asarray(a)
    if a.ndim == 0:
        return fmt_num(a, digits + 1)
    if a.size == 0:
        return f"{fmt_shape(a.shape)} empty"
    s = stats(a)
    text = (f"{fmt_shape(a.shape)} min {fmt_num(s['min'], digits)} max {fmt_num(s['max'], digits)} "
            f"mean {fmt_num(s['mean'], digits)} norm {fmt_num(s['norm'], digits)}")
    if s["nonfinite"]:
        text += f" ({s['nonfinite']} non-finite)"
    return text


def format_tensor(a: np.ndarray, digits: int | None = 4, max_elements: int = 64) -> str:
    """Small tensors as numbers ([1, 2; 3, 4] style rows), large ones as a summary."""
    a = np.asarray(a)
    if a.ndim == 0:
        return fmt_num(a, digits)
    if a.size > max_elements or a.ndim > 2:
        return summary(a)
    if a.ndim == 1:
        return "[" + ", ".join(fmt_num(v, digits) for v in a) + "]"
    rows = ["[" + ", ".join(fmt_num(v, digits) for v in row) + "]" for row in a]
    return "[" + ",\n ".join(rows) + "]"
