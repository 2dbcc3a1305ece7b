"""`gradstep dot --values`: every node labelled with its value and gradient at a tick, every edge with its local
derivative; the DOT parses (pydot) on every bundled scenario and survives names with quotes, backslashes and
line breaks."""
from __future__ import annotations

import re
import subprocess
import sys

import pydot
import pytest

from gradstep.engine import Stepper, load_scenario
from gradstep.engine import dot
from gradstep.scenarios import bundled_dir

BUNDLED = bundled_dir()
PATHS = BUNDLED / "sum_over_paths.toml"


def gradstep(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradstep.engine", *map(str, args)], capture_output=True,
                          text=True, timeout=120)


def parse(text: str) -> pydot.Dot:
    graphs = pydot.graph_from_dot_data(text)
    assert graphs and len(graphs) == 1, text
    return graphs[0]


def unquote(label: str) -> str:
    """A DOT quoted string back to its text (the escapes dot.quoted writes)."""
    assert label.startswith('"') and label.endswith('"'), label
    return re.sub(r'\\(.)', lambda m: "\n" if m.group(1) == "n" else m.group(1), label[1:-1])


def labels(graph: pydot.Dot) -> tuple[dict[str, str], dict[tuple[str, str], str]]:
    nodes = {n.get_name(): unquote(n.get_label()) for n in graph.get_nodes() if re.fullmatch(r"n\d+", n.get_name())}
    edges = {(e.get_source(), e.get_destination()): unquote(e.get_label()) for e in graph.get_edges()
             if e.get_label() is not None}
    return nodes, edges


def test_sum_over_paths_shows_values_gradients_and_local_derivatives():
    proc = gradstep("dot", PATHS, "--values")
    assert proc.returncode == 0, proc.stderr
    nodes, edges = labels(parse(proc.stdout))
    ids = {text.split("\n")[0]: name for name, text in nodes.items()}
    assert nodes[ids["b"]].split("\n")[2:] == ["value 1", "grad 5"]
    assert nodes[ids["a"]].split("\n")[2:] == ["value 2", "grad 2"]
    assert nodes[ids["e"]].split("\n")[1:] == ["c * d ()", "value 6", "grad 1"]
    assert edges[(ids["c"], ids["e"])] == "d = 2"
    assert edges[(ids["d"], ids["e"])] == "c = 3"
    assert edges[(ids["b"], ids["c"])] == "1"


def test_at_a_tick_nodes_not_computed_yet_say_so():
    proc = gradstep("dot", BUNDLED / "chain_rule.toml", "--values", "--at", "1")
    assert proc.returncode == 0, proc.stderr
    nodes, edges = labels(parse(proc.stdout))
    by_name = {text.split("\n")[0]: text for text in nodes.values()}
    assert "value 2.25" in by_name["u"] and "value not computed yet" in by_name["v"]
    assert "grad not reached yet" in by_name["u"]
    assert "tick 1: iteration 1, forward 1/3" in proc.stdout


def test_tensors_read_as_shape_and_summary():
    proc = gradstep("dot", BUNDLED / "two_layer.toml", "--values")
    assert proc.returncode == 0, proc.stderr
    nodes, _ = labels(parse(proc.stdout))
    w1 = next(t for t in nodes.values() if t.startswith("W1\n"))
    assert re.search(r"value \(10, 100\) min \S+ max \S+ mean \S+ norm \S+", w1)
    assert re.search(r"grad \(10, 100\) min ", w1)


@pytest.mark.parametrize("argv, says", [(["--at", "3"], "goes with --values"),
                                        (["--values", "--at", "-1"], "the ticks run from 0 to"),
                                        (["--values", "--at", "100000"], "the ticks run from 0 to")])
def test_bad_ticks_exit_2_with_one_line(argv, says):
    proc = gradstep("dot", BUNDLED / "two_layer.toml", *argv)
    assert proc.returncode == 2 and says in proc.stderr and proc.stdout == ""
    assert len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("path", sorted(BUNDLED.glob("*.toml")), ids=lambda p: p.name)
def test_every_bundled_scenario_parses_with_values(path):
    st = Stepper(load_scenario(path))
    st.seek(st.forward_len + st.backward_len - 1)
    graph = parse(dot.with_values(st, "here"))
    program = st.program
    assert len([n for n in graph.get_nodes() if re.fullmatch(r"n\d+", n.get_name())]) == len(program.nodes)
    assert len(graph.get_edges()) == sum(len(n.inputs) for n in program.nodes)


HOSTILE = ['say "hi"', "back\\slash", "two\nlines", 'all "of\\" them\n\\n', "\x1b[31mred"]


@pytest.mark.parametrize("values", [False, True], ids=["plain", "values"])
def test_names_with_quotes_backslashes_and_newlines_survive(values):
    st = Stepper(load_scenario(PATHS))
    st.seek(7)
    program = st.program
    for node, name in zip(program.nodes, HOSTILE + ["x"] * len(program.nodes)):
        node.name = name
    text = dot.with_values(st, 'tick "7"\\') if values else dot.plain(program)
    graph = parse(text)
    nodes, _ = labels(graph)
    assert len(nodes) == len(program.nodes)
    for k, name in enumerate(HOSTILE):
        label = nodes[f"n{k}"]
        expected = name.replace("\x1b", "␛")          # control characters are made visible
        assert label.startswith(expected + "\n"), (label, expected)
