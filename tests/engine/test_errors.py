"""A catalogue of bad scenarios: each raises ScenarioError naming file, table, key and line.

The expected line is marked in each scenario text with the comment ``#!``, so the numbers are
not copied from the loader's output: they come from where the mistake was written.
"""
from __future__ import annotations

import re

import pytest

from gradstep.engine import ScenarioError, load_scenario, load_scenario_text

HEAD = '[scenario]\ntitle = "t"\n'
TRAIN = '[train]\nloss = "E"\nlearning_rate = 0.1\n'


def marked_line(text: str) -> int | None:
    """The 1-based line carrying the '#!' marker, or None."""
    for no, line in enumerate(text.splitlines(), 1):
        if "#!" in line:
            return no
    return None


# (id, scenario text, files beside it, table, key, phrases the problem must contain)
CASES = [
    ("broken TOML: value missing", HEAD + '[values]\nx = 1.0\ny =   #!\n[graph]\nE = "x"\n' + TRAIN,
     {}, "values", "y", ["not valid TOML", "value after '='"]),
    ("broken TOML: unclosed list", HEAD + '[values]\nx = [1.0, 2.0   #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "values", "x", ["not valid TOML", "closing ]"]),
    ("broken TOML: unterminated string", HEAD + '[graph]\nE = "sum(x)   #!\n' + TRAIN,
     {}, "graph", "E", ["not valid TOML", "closing quote"]),
    ("broken TOML: key defined twice", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\nE = "x * 3"  #!\n'
     + TRAIN, {}, "graph", "E", ["defined twice"]),
    ("unknown op", HEAD + '[values]\nx = 1.0\n[graph]\nE = "sigmod(x)"  #!\n' + TRAIN,
     {}, "graph", "E", ["unknown op 'sigmod'", "did you mean 'sigmoid'", "relu"]),
    ("unknown name", HEAD + '[params]\nW1 = [1.0]\n[graph]\nE = "sum(W2 * 2)"  #!\n' + TRAIN,
     {}, "graph", "E", ["unknown name 'W2'", "did you mean 'W1'", "[values]"]),
    ("used before defined", HEAD + '[values]\nx = 1.0\n[graph]\nh = "k * 2"  #!\nk = "x + 1"\nE = "h"\n'
     + TRAIN, {}, "graph", "h", ["'k' is used before it is defined", "move k above h"]),
    ("used in its own definition", HEAD + '[values]\nx = 1.0\n[graph]\nE = "E + x"  #!\n' + TRAIN,
     {}, "graph", "E", ["its own definition"]),
    ("defined twice across tables", HEAD + '[values]\nx = 1.0\n[params]\nx = 2.0  #!\n[graph]\nE = "x * 2"\n'
     + TRAIN, {}, "params", "x", ["'x' is defined twice", "[values]"]),
    ("graph key shadows a value", HEAD + '[values]\nx = 1.0\n[graph]\nx = "x * 2"  #!\nE = "x"\n' + TRAIN,
     {}, "graph", "x", ["'x' is defined twice", "[values]"]),
    ("name of an op", HEAD + '[values]\nrelu = 1.0  #!\n[graph]\nE = "relu * 2"\n' + TRAIN,
     {}, "values", "relu", ["name of an op"]),
    ("matmul shapes", HEAD + '[values]\nx = [1.0, 2.0, 3.0]\n[params]\nW = [[1.0, 2.0], [3.0, 4.0]]\n'
     '[graph]\nE = "sum(W @ x)"  #!\n' + TRAIN, {}, "graph", "E", ["(2, 2)", "(3,)", "do not fit"]),
    ("broadcast shapes", HEAD + '[values]\nx = [1.0, 2.0, 3.0]\ny = [1.0, 2.0]\n[graph]\nh = "x + y"  #!\n'
     'E = "sum(h)"\n' + TRAIN, {}, "graph", "h", ["(3,)", "(2,)", "do not broadcast"]),
    ("loss not a scalar", HEAD + '[values]\nx = [1.0, 2.0]\n[graph]\nE = "x * 2"\n[train]\nloss = "E"  #!\n'
     'learning_rate = 0.1\n', {}, "train", "loss", ["must be a scalar", "(2,)", "sum(...)"]),
    ("loss names nothing", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "F"  #!\n',
     {}, "train", "loss", ["'F'", "names no node"]),
    ("loss names a value", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "x"  #!\n',
     {}, "train", "loss", ["names a value", "[graph]"]),
    ("missing table [graph]", HEAD + '[values]\nx = 1.0\n' + TRAIN, {}, "graph", None,
     ["the table [graph] is missing"]),
    ("missing table [train]", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n', {}, "train", None,
     ["the table [train] is missing"]),
    ("missing key title", '[scenario]  #!\nseed = 1\n[values]\nx = 1.0\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "scenario", "title", ["'title' is missing"]),
    ("missing key loss", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]  #!\nsteps = 2\n',
     {}, "train", "loss", ["'loss' is missing"]),
    ("missing learning_rate with params", HEAD + '[params]\nw = 1.0\n[graph]\nE = "w * 2"\n[train]  #!\n'
     'loss = "E"\n', {}, "train", "learning_rate", ["'learning_rate' is missing"]),
    ("missing init", HEAD + '[params]\nW = { shape = [3] }  #!\n[graph]\nE = "sum(W)"\n' + TRAIN,
     {}, "params", "W", ["'init' is missing"]),
    ("wrong type: steps", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "E"\n'
     'steps = "ten"  #!\n', {}, "train", "steps", ["steps must be a whole number", "a string"]),
    ("wrong type: value string", HEAD + '[values]\nx = "one"  #!\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "values", "x", ["a number or a list of numbers", "a string"]),
    ("wrong type: value bool", HEAD + '[values]\nx = true  #!\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "values", "x", ["a number or a list of numbers", "true/false"]),
    ("wrong type: expression", HEAD + '[values]\nx = 1.0\n[graph]\nE = 3  #!\n' + TRAIN,
     {}, "graph", "E", ["must be a string in quotes"]),
    ("wrong type: title", '[scenario]\ntitle = 5  #!\n[values]\nx = 1.0\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "scenario", "title", ["title must be a string"]),
    ("wrong type: table", 'graph = 3  #!\n' + HEAD + '[values]\nx = 1.0\n' + TRAIN,
     {}, "graph", None, ["[graph] must be a table", "a whole number"]),
    ("key where a table belongs", HEAD + 'graph = "x"  #!\n[values]\nx = 1.0\n' + TRAIN,
     {}, "scenario", "graph", ["unknown key 'graph'"]),
    ("attribute access", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x.shape"  #!\n' + TRAIN,
     {}, "graph", "E", ["attribute access", "only .T"]),
    ("attribute chain x.__class__", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x.__class__"  #!\n' + TRAIN,
     {}, "graph", "E", ["attribute access"]),
    ("subscript", HEAD + '[values]\nx = [1.0, 2.0]\ny = 1.0\n[graph]\nE = "x[y]"  #!\n' + TRAIN,
     {}, "graph", "E", ["index", "whole number"]),
    ("lambda", HEAD + '[values]\nx = 1.0\n[graph]\nE = "(lambda: x)()"  #!\n' + TRAIN,
     {}, "graph", "E", ["lambda functions", "do not allow"]),
    ("string", HEAD + "[values]\nx = 1.0\n[graph]\nE = \"x * 'a'\"  #!\n" + TRAIN,
     {}, "graph", "E", ["strings are not allowed", "only numbers"]),
    ("comprehension", HEAD + '[values]\nx = [1.0]\n[graph]\nE = "sum([v for v in x])"  #!\n' + TRAIN,
     {}, "graph", "E", ["comprehensions"]),
    ("generator", HEAD + '[values]\nx = [1.0]\n[graph]\nE = "sum(v for v in x)"  #!\n' + TRAIN,
     {}, "graph", "E", ["comprehensions"]),
    ("f-string", HEAD + "[values]\nx = 1.0\n[graph]\nE = \"f'{x}'\"  #!\n" + TRAIN,
     {}, "graph", "E", ["f-strings"]),
    ("walrus", HEAD + '[values]\nx = 1.0\n[graph]\nE = "(y := x) * 2"  #!\n' + TRAIN,
     {}, "graph", "E", ["walrus"]),
    ("__import__", HEAD + "[values]\nx = 1.0\n[graph]\nE = \"__import__('os')\"  #!\n" + TRAIN,
     {}, "graph", "E", ["'__'", "not allowed"]),
    ("__import__ chain", HEAD + "[values]\nx = 1.0\n[graph]\nE = \"__import__('os').system('ls')\"  #!\n"
     + TRAIN, {}, "graph", "E", ["attribute access"]),
    ("dunder name", HEAD + '[values]\nx = 1.0\n[graph]\nE = "__builtins__"  #!\n' + TRAIN,
     {}, "graph", "E", ["'__builtins__'", "not allowed"]),
    ("dunder key", HEAD + '[values]\n__x = 1.0  #!\n[graph]\nE = "__x * 2"\n' + TRAIN,
     {}, "values", "__x", ["'__'", "not allowed"]),
    ("comparison", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x > 0"  #!\n' + TRAIN,
     {}, "graph", "E", ["comparisons"]),
    ("list literal", HEAD + '[values]\nx = 1.0\n[graph]\nE = "sum([x, x])"  #!\n' + TRAIN,
     {}, "graph", "E", ["list literals"]),
    ("** kwargs", HEAD + '[values]\nx = [1.0]\n[graph]\nE = "sum(x, **{})"  #!\n' + TRAIN,
     {}, "graph", "E", ["** arguments"]),
    ("variable exponent", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x ** x"  #!\n' + TRAIN,
     {}, "graph", "E", ["exponent", "must be a number"]),
    ("syntax error", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * (2 +"  #!\n' + TRAIN,
     {}, "graph", "E", ["cannot read the expression"]),
    ("unknown table (typo)", HEAD + '[valeus]  #!\nx = 1.0\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "valeus", None, ["unknown table [valeus]", "did you mean 'values'"]),
    ("unknown key: sclae", HEAD + '[params]\nW = { init = "normal", shape = [3], sclae = 0.1 }  #!\n'
     '[graph]\nE = "sum(W)"\n' + TRAIN, {}, "params", "W", ["unknown key 'sclae'", "did you mean 'scale'"]),
    ("unknown key: [params.W] sclae", HEAD + '[params.W]  #!\ninit = "normal"\nshape = [3]\nsclae = 0.1\n'
     '[graph]\nE = "sum(W)"\n' + TRAIN, {}, "params", "W", ["unknown key 'sclae'", "did you mean 'scale'"]),
    ("unknown key in [train]", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "E"\n'
     'learning_rte = 0.1  #!\n', {}, "train", "learning_rte", ["unknown key", "did you mean 'learning_rate'"]),
    ("ragged lists", HEAD + '[values]\nx = [[1.0, 2.0], [3.0]]  #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "values", "x", ["ragged", "same length"]),
    ("ragged depth", HEAD + '[values]\nx = [[1.0, 2.0], 3.0]  #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "values", "x", ["ragged"]),
    ("empty list", HEAD + '[values]\nx = []  #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "values", "x", ["empty list"]),
    ("nan literal", HEAD + '[values]\nx = nan  #!\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "values", "x", ["nan or inf"]),
    ("bad init name", HEAD + '[params]\nW = { init = "gaussian", shape = [3] }  #!\n[graph]\nE = "sum(W)"\n'
     + TRAIN, {}, "params", "W", ["unknown init 'gaussian'", "normal"]),
    ("bad init shape zero", HEAD + '[params]\nW = { init = "normal", shape = [3, 0] }  #!\n[graph]\n'
     'E = "sum(W)"\n' + TRAIN, {}, "params", "W", ["at least 1", "[3, 0]"]),
    ("bad init shape type", HEAD + '[params]\nW = { init = "normal", shape = 3 }  #!\n[graph]\nE = "sum(W)"\n'
     + TRAIN, {}, "params", "W", ["shape must be a list of whole numbers"]),
    ("bad init scale", HEAD + '[params]\nW = { init = "normal", shape = [3], scale = "big" }  #!\n[graph]\n'
     'E = "sum(W)"\n' + TRAIN, {}, "params", "W", ["scale must be a number"]),
    ("negative scale", HEAD + '[params]\nW = { init = "uniform", shape = [3], scale = -1 }  #!\n[graph]\n'
     'E = "sum(W)"\n' + TRAIN, {}, "params", "W", ["scale", "cannot be negative"]),
    ("scale overflows the draw", HEAD + '[params]\nW = { init = "uniform", shape = [3], scale = 1e308 }  #!\n'
     '[graph]\nE = "sum(W)"\n' + TRAIN, {}, "params", "W", ["overflows float64", "smaller scale"]),
    ("huge integer literal", HEAD + '[values]\nx = ' + "9" * 400 + '  #!\n[graph]\nE = "x * 2"\n' + TRAIN,
     {}, "values", "x", ["too large"]),
    ("negative seed", '[scenario]\ntitle = "t"\nseed = -1  #!\n[values]\nx = 1.0\n[graph]\nE = "x * 2"\n'
     + TRAIN, {}, "scenario", "seed", ["seed must be a whole number"]),
    ("negative learning rate", HEAD + '[params]\nw = 1.0\n[graph]\nE = "w * 2"\n[train]\nloss = "E"\n'
     'learning_rate = -0.1  #!\n', {}, "train", "learning_rate", ["finite number ≥ 0"]),
    ("steps zero", HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "E"\nsteps = 0  #!\n',
     {}, "train", "steps", ["steps must be from 1"]),
    ("CSV missing column", HEAD + '[data]\nfile = "d.csv"\nx = ["a", "q"]  #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {"d.csv": "a,b\n1,2\n"}, "data", "x", ["no column 'q'", "'a', 'b'"]),
    ("CSV non-number cell", HEAD + '[data]\nfile = "d.csv"\nx = ["a", "b"]  #!\n[graph]\nE = "sum(x)"\n'
     + TRAIN, {"d.csv": "a,b\n1,2\n3,4\n5,abc\n"}, "data", "x", ["d.csv line 4", "'abc' is not a number"]),
    ("CSV infinite cell", HEAD + '[data]\nfile = "d.csv"\nx = ["a", "b"]  #!\n[graph]\nE = "sum(x)"\n'
     + TRAIN, {"d.csv": "a,b\n1,2\n\n3,1e999\n"}, "data", "x", ["d.csv line 4", "not a finite number"]),
    ("CSV short row", HEAD + '[data]\nfile = "d.csv"\nx = ["a", "b"]  #!\n[graph]\nE = "sum(x)"\n'
     + TRAIN, {"d.csv": "a,b\n1,2\n3\n"}, "data", "x", ["d.csv line 3", "is not a number"]),
    ("CSV missing file", HEAD + '[data]\nfile = "nope.csv"  #!\nx = ["a"]\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "data", "file", ["'nope.csv' does not exist"]),
    ("CSV empty", HEAD + '[data]\nfile = "d.csv"  #!\nx = ["a"]\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {"d.csv": ""}, "data", "file", ["is empty"]),
    ("CSV header only", HEAD + '[data]\nfile = "d.csv"  #!\nx = ["a"]\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {"d.csv": "a,b\n"}, "data", "file", ["no rows"]),
    ("data columns differ in rows", HEAD + '[data]  #!\nx = [1.0, 2.0]\ny = [1.0]\n[graph]\nE = "sum(x)"\n'
     + TRAIN, {}, "data", None, ["same number of rows", "x: 2", "y: 1"]),
    ("batch too large", HEAD + '[data]\nx = [1.0, 2.0]\nbatch = 5  #!\n[graph]\nE = "sum(x)"\n' + TRAIN,
     {}, "data", "batch", ["batch must be", "2 rows"]),
    ("cross_entropy index out of range", HEAD + '[values]\nz = [[1.0, 2.0, 3.0], [1.0, 0.0, 0.0]]\n'
     't = [0, 3]\n[graph]\nE = "cross_entropy(z, t)"  #!\n' + TRAIN, {}, "graph", "E",
     ["class indices must lie in 0..2", "got 0..3", "3 classes"]),
    ("cross_entropy negative index in data", HEAD + '[data]\nz = [[1.0, 2.0], [1.0, 0.0]]\nt = [0, -1]\n'
     'batch = 1\n[graph]\nE = "cross_entropy(z, t)"  #!\n' + TRAIN, {}, "graph", "E",
     ["class indices must lie in 0..1", "data column 't'"]),
    ("cross_entropy fractional index", HEAD + '[values]\nz = [[1.0, 2.0, 3.0]]\nt = [0.5]\n[graph]\n'
     'E = "cross_entropy(z, t)"  #!\n' + TRAIN, {}, "graph", "E", ["whole numbers"]),
    ("cross_entropy constant index", HEAD + '[params]\nz = [0.5]\n[graph]\nE = "cross_entropy(z, 2)"  #!\n'
     + TRAIN, {}, "graph", "E", ["class indices must lie in 0..0", "got 2..2", "there is 1 class"]),
    ("cross_entropy computed indices", HEAD + '[values]\nz = [[1.0, 2.0, 3.0]]\nt = [1.0]\n[graph]\n'
     'u = "t * 5"\nE = "cross_entropy(z, u)"  #!\n' + TRAIN, {}, "graph", "E", ["straight from [values]"]),
]

JARGON = ("Traceback", "NoneType", "<class", "object at 0x", "TOMLDecodeError", "KeyError", "IndexError",
          "ast.", "Expected '='")


def assert_readable(problem: str) -> None:
    """A sentence a newcomer reads: words, no Python internals, not a wall of text."""
    assert len(problem.split()) >= 3, problem
    assert len(problem) < 400, problem
    for word in JARGON:
        assert word not in problem, (word, problem)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_scenario_message(case, tmp_path):
    name, text, files, table, key, phrases = case
    for fname, content in files.items():
        (tmp_path / fname).write_text(content)
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    e = info.value
    line = marked_line(text)
    assert e.file == str(path)
    assert e.table == table
    assert e.key == key
    assert e.line == line
    for phrase in phrases:
        assert phrase in e.problem, (phrase, e.problem)
    assert_readable(e.problem)
    # The text itself names every known part, in the order 'file:line: [table] key: problem'.
    msg = str(e)
    where = str(path) + (f":{line}" if line is not None else "")
    assert msg.startswith(where + ": "), msg
    if table and key:
        assert f"[{table}] {key}: " in msg
    elif table:
        assert f"[{table}]: " in msg
    assert msg.endswith(e.problem)


def test_every_case_is_distinct():
    """The catalogue is not padded with copies."""
    assert len({(c[1], tuple(c[2].items())) for c in CASES}) == len(CASES)


def test_text_loader_names_the_given_file():
    text = HEAD + '[values]\nx = 1.0\n[graph]\nE = "y * 2"  #!\n' + TRAIN
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="lesson.toml")
    assert info.value.file == "lesson.toml"
    assert info.value.line == marked_line(text)
    assert str(info.value).startswith(f"lesson.toml:{marked_line(text)}: [graph] E: unknown name 'y'")


def test_text_loader_cannot_read_csv():
    text = HEAD + '[data]\nfile = "d.csv"  #!\nx = ["a"]\n[graph]\nE = "sum(x)"\n' + TRAIN
    with pytest.raises(ScenarioError, match="given as text cannot read a CSV"):
        load_scenario_text(text)


@pytest.mark.parametrize("content, problem", [
    (b"\xff\xfe\x00binary", "not UTF-8"),
    (b"\x00\x01\x02", "not valid TOML"),
])
def test_binary_files(tmp_path, content, problem):
    path = tmp_path / "bin.toml"
    path.write_bytes(content)
    with pytest.raises(ScenarioError, match=problem) as info:
        load_scenario(path)
    assert info.value.file == str(path)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ScenarioError, match="does not exist") as info:
        load_scenario(tmp_path / "nope.toml")
    assert info.value.file == str(tmp_path / "nope.toml")
    with pytest.raises(ScenarioError, match="is not a file"):
        load_scenario(tmp_path)


def test_located_fills_only_unknown_parts():
    e = ScenarioError("x is wrong", table="graph", key="E")
    e.located(file="a.toml", table="values", key="y", line=3)
    assert (e.file, e.table, e.key, e.line) == ("a.toml", "graph", "E", 3)
    assert str(e) == "a.toml:3: [graph] E: x is wrong"


def test_a_good_scenario_still_loads():
    """The catalogue's frame is itself valid, so each case fails only for its own mistake."""
    s = load_scenario_text(HEAD + '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n' + TRAIN)
    assert s.program.nodes[s.program.loss].name == "E"
    assert re.fullmatch(r"E = x \* 2", s.program.nodes[s.program.loss].equation())


def test_unknown_data_option_is_named_as_an_option():
    text = ('[scenario]\ntitle="t"\n[data]\nx=[[1.0],[2.0],[3.0]]\nbatch=2\ndrop_last=true\n'
            '[graph]\nE="sum(x)"\n[train]\nloss="E"\n')
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="d.toml")
    e = info.value
    assert (e.table, e.key, e.line) == ("data", "drop_last", 6)
    assert "unknown [data] option 'drop_last'" in e.problem and "batch" in e.problem


def test_missing_learning_rate_says_why_it_is_needed():
    text = '[scenario]\ntitle="t"\n[params]\nw=1.0\n[graph]\nE="w * w"\n[train]\nloss="E"\n'
    with pytest.raises(ScenarioError) as info:
        load_scenario_text(text, file="t.toml")
    assert info.value.key == "learning_rate" and "learning_rate = 0.1" in info.value.problem
