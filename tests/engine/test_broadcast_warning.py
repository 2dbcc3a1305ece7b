"""A surprising broadcast — two non-scalar inputs of an elementwise op making a shape larger than
both, as (10, 1) · (10,) → (10, 10) — is said at load, naming the node, both shapes and the result,
unless [scenario] broadcast_ok says it is meant."""
from __future__ import annotations

import pytest

from gradstep import engine
from gradstep.engine import cli

TEXT = """
[scenario]
title = "bc"
[values]
y = [[1.0], [0.0], [1.0]]
p = [0.2, 0.7, 0.9]
b = [0.1, 0.2, 0.3]
[graph]
E = "-sum(y * log(p))"
F = "sum(p + b) + E"
[train]
loss = "F"
"""


def test_the_column_times_row_mistake_is_named(tmp_path, capsys):
    path = tmp_path / "bc.toml"
    path.write_text(TEXT, encoding="utf-8")
    sc = engine.load_scenario(path)
    [(node, msg)] = sc.warnings.items()
    assert sc.program.nodes[node].name == "y * log(p)"
    assert "bc.toml:9: [graph] E" in msg and "(3, 1) and (3,) broadcast to (3, 3)" in msg and "broadcast_ok" in msg
    assert cli.main(["run", str(path)]) == 0                      # a warning, not an error
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "(3, 3)" in err


@pytest.mark.parametrize("ok", ['broadcast_ok = ["E"]', "broadcast_ok = true"])
def test_an_intended_broadcast_can_be_declared(ok):
    sc = engine.load_scenario_text(TEXT.replace('title = "bc"', f'title = "bc"\n{ok}'))
    assert sc.warnings == {}


def test_ordinary_broadcasts_are_quiet():
    # A bias over a batch, a scalar, a mask over heads: the result is no larger than the larger input.
    sc = engine.load_scenario_text("""
        [scenario]
        title = "quiet"
        [values]
        x = [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]
        b = [0.5, -0.5]
        [graph]
        E = "sum((x + b) * 2.0 - x)"
        [train]
        loss = "E"
    """.replace("\n        ", "\n"))
    assert sc.warnings == {}


def test_a_wrong_broadcast_ok_is_refused():
    with pytest.raises(engine.ScenarioError, match="broadcast_ok lists 'G'"):
        engine.load_scenario_text(TEXT.replace('title = "bc"', 'title = "bc"\nbroadcast_ok = ["G"]'))
    with pytest.raises(engine.ScenarioError, match="broadcast_ok is true, or a list"):
        engine.load_scenario_text(TEXT.replace('title = "bc"', 'title = "bc"\nbroadcast_ok = 3'))


def test_no_bundled_scenario_or_readme_example_warns():
    from pathlib import Path
    for path in sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml")):
        assert engine.load_scenario(path).warnings == {}, path.name
