"""The [quiz] table: ask and tolerance parsed and checked against the program, with errors naming file, table,
key and line, and did-you-mean for an unknown name."""
from __future__ import annotations

import pytest

from gradstep.engine import QuizSpec, ScenarioError, load_scenario_text

BASE = """[scenario]
title = "t"
[values]
x = 1.5
k = 2.0
[graph]
u = "x ** 2"
v = "sin(u)"
f = "exp(v)"
w = "k * 3"
[train]
loss = "f"
[quiz]
"""


def load(quiz: str):
    return load_scenario_text(BASE + quiz, file="q.toml")


def ids(sc, *names):
    return tuple(sc.program.by_name[n] for n in names)


def test_ask_lists_values_and_gradients_in_order():
    sc = load('ask = ["v", "u", "grad(x)", "grad( u )"]\ntolerance = 0.01')
    assert sc.quiz == QuizSpec(ids(sc, "v", "u"), ids(sc, "x", "u"), 0.01)


def test_defaults_every_graph_key_and_every_named_gradient():
    sc = load("")
    assert sc.quiz.tolerance == 1e-3
    assert sc.quiz.values == ids(sc, "u", "v", "f", "w")
    assert sc.quiz.grads == ids(sc, "x", "u", "v", "f")       # k and w do not reach the loss


def test_no_table_no_quiz():
    assert load_scenario_text(BASE.replace("[quiz]\n", ""), file="q.toml").quiz is None


@pytest.mark.parametrize("quiz, message", [
    ('ask = ["uu"]', "q.toml:14: [quiz] ask: 'uu' names no node (did you mean 'u'?)"),
    ('ask = ["grad(vv)"]', "q.toml:14: [quiz] ask: 'vv' names no node (did you mean 'v'?)"),
    ('ask = ["x"]', "q.toml:14: [quiz] ask: 'x' is an input: its value is given, not computed; ask grad(x)"),
    ('ask = ["grad(k)"]', "q.toml:14: [quiz] ask: no gradient flows to 'k'"),
    ('ask = ["u", "u"]', "q.toml:14: [quiz] ask: 'u' is asked twice"),
    ('ask = ["grad(u"]', "q.toml:14: [quiz] ask: 'grad(u' is not a node name or grad(name)"),
    ('ask = "u"', "q.toml:14: [quiz] ask: ask is a list of node names and grad(name)"),
    ('ask = []', "q.toml:14: [quiz] ask: ask is a list"),
    ('ask = ["u", 3]', "q.toml:14: [quiz] ask: ask is a list"),
    ('tolerance = "tight"', "q.toml:14: [quiz] tolerance: tolerance must be a number, got a string"),
    ("tolerance = 0", "q.toml:14: [quiz] tolerance: tolerance is relative, a number between 0 and 1"),
    ("tolerance = 1.5", "q.toml:14: [quiz] tolerance: tolerance is relative"),
    ("tolerance = nan", "q.toml:14: [quiz] tolerance: tolerance is relative"),
    ('ask = ["u"]\ntolerence = 0.1', "q.toml:15: [quiz] tolerence: unknown key 'tolerence' (did you mean 'tolerance'?)"),
])
def test_bad_quiz_tables_name_file_line_table_and_key(quiz, message):
    with pytest.raises(ScenarioError) as info:
        load(quiz)
    assert str(info.value).startswith(message), str(info.value)


def test_quiz_must_be_a_table():
    with pytest.raises(ScenarioError, match=r"\[quiz\] must be a table"):
        load_scenario_text("quiz = 1\n" + BASE.replace("[quiz]\n", ""), file="q.toml")
