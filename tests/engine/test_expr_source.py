"""A node's text is the slice of its expression that made it, as ast.get_source_segment gives it (the
walker splits the text once instead of once per node), across lines and non-ASCII names."""
from __future__ import annotations

import ast

import pytest

from gradstep.engine.expr import _Walker
from gradstep.engine.tomltext import clip

TEXTS = ["sin(x ** 2) + é_x * 3", "(a +\n  b *\r\n (c - d))", "(exp(sin(x**2))\r+ 1)", "x[..., -1] @ W.T + b",
         "((ω\n+\rβ) * δ)", "relu(W1 @ x)  +  b1", "(\n  sum(\n    h\n  )\n)"]


@pytest.mark.parametrize("text", TEXTS)
def test_each_node_text_is_its_source_segment(text):
    walker = _Walker(text, None, "k")
    nodes = [n for n in ast.walk(ast.parse(text, mode="eval").body) if hasattr(n, "lineno")]
    assert len(nodes) >= 3
    for n in nodes:
        assert walker.source(n) == clip(ast.get_source_segment(text, n))
