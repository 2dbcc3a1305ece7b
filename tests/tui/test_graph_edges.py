"""Every edge of the graph is readable at any width: decoding the gutter's lanes plus the labelled connectors
(← W5, b5) gives back every input of every line, for 14, 30 and 100 leaves, at 80 and 200 columns, folded
or not; leaf kinds (running stat, noise) and the scenario's warnings show on their lines."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradstep.engine import load_scenario
from gradstep.scenarios import bundled_dir
from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.graph import GraphPane, assign_lanes, lane_cap

from test_graph_lanes import decode, expected

CONNECTOR = re.compile(r"← ([\w, ]+?)(?:  |$)")


def sum_of_leaves(n: int) -> str:
    """E = a0 + a1 + ... + a(n-1): n leaves, every one feeding the long sum (the issue's second example),
    written 25 terms a key (an expression nests at most MAX_EXPRESSION_DEPTH deep)."""
    values = "\n".join(f"a{i} = {i + 1}.0" for i in range(n))
    keys, prev = [], []
    for k, start in enumerate(range(0, n, 25)):
        terms = " + ".join(prev + [f"a{i}" for i in range(start, min(n, start + 25))])
        name = "E" if start + 25 >= n else f"s{k}"
        keys.append(f'{name} = "{terms}"')
        prev = [name]
    graph = "\n".join(keys)
    return f'[scenario]\ntitle = "{n} leaves"\n[values]\n{values}\n[graph]\n{graph}\n[train]\nloss = "E"\n'


def mlp(layers: int) -> str:
    """A ReLU MLP with `layers` layers: 2 × layers params + x = 2 × layers + 1 leaves (6 layers: 13 + y = 14)."""
    params = "\n".join(f'W{k} = {{ init = "normal", shape = [4, 4] }}\nb{k} = {{ init = "zeros", shape = [4] }}'
                       for k in range(layers))
    graph, prev = [], "x"
    for k in range(layers):
        graph.append(f'h{k} = "relu({prev} @ W{k} + b{k})"')
        prev = f"h{k}"
    graph.append(f'E = "sum(({prev} - y) ** 2)"')
    return (f'[scenario]\ntitle = "MLP of {layers} layers"\nseed = 0\n[values]\nx = {{ init = "normal", shape = [4] }}\n'
            f'y = {{ init = "normal", shape = [4] }}\n[params]\n{params}\n[graph]\n' + "\n".join(graph)
            + '\n[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 3\n')


def decode_all(graph: GraphPane) -> list[set[int]]:
    """Lanes decoded from the gutters, plus each line's connectors read off its text."""
    found = decode([row.gutter.plain for row in graph.rows])
    row_of_name = {graph.program.nodes[row.node].name: r for r, row in enumerate(graph.rows)}
    for r, row in enumerate(graph.rows):
        text = graph.row(r).plain
        for m in CONNECTOR.finditer(text):
            found[r] |= {row_of_name[name.strip()] for name in m.group(1).split(",")}
    return found


async def check(path: Path, size: tuple[int, int], fold: bool = False) -> GraphPane:
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        graph = app.main.graph
        if fold:
            await pilot.press("z")
        assert decode_all(graph) == expected(graph)
        gutter = max(len(row.gutter.plain) for row in graph.rows)
        assert gutter <= lane_cap(graph.content_region.width - 1) + 2     # the lanes fit the pane
        return graph


@pytest.mark.parametrize("leaves", [14, 30, 100])
@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_every_leaf_of_a_long_sum_is_connected(tmp_path, leaves, size):
    path = tmp_path / "sum.toml"
    path.write_text(sum_of_leaves(leaves))
    graph = await check(path, size)
    labelled = {name for row in graph.rows for name in row.inputs}
    if leaves > lane_cap(200):
        assert labelled                  # more leaves than lanes: some are named on their consumer's line


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_a_six_layer_mlp_draws_w5_and_b5(tmp_path, size):
    path = tmp_path / "mlp.toml"
    path.write_text(mlp(6))
    graph = await check(path, size)
    p = graph.program
    consumer = graph.row_of[p.node("W5").id]
    assert consumer is not None
    await check(path, size, fold=True)


async def test_attention_lanes_are_correct_folded_and_not():
    await check(bundled_dir() / "attention.toml", (120, 40))
    await check(bundled_dir() / "attention.toml", (120, 40), fold=True)
    await check(bundled_dir() / "lenet_digits.toml", (80, 24))


def test_short_lanes_get_columns_first_when_they_do_not_all_fit():
    # rows 0..3 feed row 9 (long lanes, named); rows 4..7 feed the row after them (short, unnamed)
    feeds = [[] for _ in range(10)]
    feeds[9] = [0, 1, 2, 3]
    for r in range(5, 9):
        feeds[r] = [r - 1]
    named = [True] * 4 + [False] * 6
    columns, unlaned = assign_lanes(feeds, named, cap=2)
    assert all(r in columns for r in range(4, 8))          # every short lane has its column
    assert unlaned and unlaned <= {0, 1, 2, 3}              # only named long ones are left to labels
    assert all(c < 2 for s, c in columns.items() if s < 4)  # named lanes stay under the cap


async def test_running_statistics_and_noise_are_labelled():
    app = GradstepApp(bundled_dir() / "lenet_digits.toml", watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        graph = app.main.graph
        p = graph.program
        row = graph.rows[graph.row_of[p.node("bn1_running_mean").id]]
        assert row.tail.startswith("running stat")
        assert "input" not in row.tail


async def test_dropout_noise_is_labelled_noise(tmp_path):
    path = tmp_path / "drop.toml"
    path.write_text('[scenario]\ntitle = "dropout"\nseed = 1\n[values]\nx = { init = "normal", shape = [8] }\n'
                    '[params]\nw = { init = "normal", shape = [8] }\n[graph]\nd = "dropout(w * x, 0.5)"\n'
                    'E = "sum(d ** 2)"\n[train]\nloss = "E"\nlearning_rate = 0.1\n')
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        graph = app.main.graph
        noise = graph.program.noise
        assert noise and graph.rows[graph.row_of[noise[0]]].tail.startswith("noise")


BROADCAST = ('[scenario]\ntitle = "column meets row"\n[values]\ny = { init = "normal", shape = [10] }\n'
             '[params]\nw = { init = "normal", shape = [10, 1] }\n[graph]\np = "sigmoid(w)"\nq = "y * log(p)"\n'
             'E = "sum(q)"\n[train]\nloss = "E"\nlearning_rate = 0.1\n')


async def test_a_surprising_broadcast_is_marked_and_said_on_selection(tmp_path):
    path = tmp_path / "broadcast.toml"
    path.write_text(BROADCAST)
    warned = load_scenario(path).warnings
    assert warned
    node = next(iter(warned))
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        graph = app.main.graph
        line = graph.row(graph.row_of[node]).plain
        assert "!" in line
        app.selected = node
        await pilot.pause()
        assert "broadcast to (10, 10)" in str(app.main.banner.render())
        app.selected = app.stepper.program.node("w").id
        await pilot.pause()
        assert "broadcast" not in str(app.main.banner.render())
