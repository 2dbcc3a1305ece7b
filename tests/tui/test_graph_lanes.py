"""The graph pane's gutter: decode the box-drawing lanes back into edges and compare with the program."""
from __future__ import annotations

from pathlib import Path

from gradstep.engine import load_scenario_text
from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets.graph import GraphPane

from tuitest import PATHS, TWO_LAYER

STARTS, FEEDS, ENDS = "╭┬", "├┼╰┴", "╰┴"


def decode(gutters: list[str]) -> list[set[int]]:
    """For each line, the earlier lines whose lanes feed it, read off the glyphs alone."""
    source: dict[int, int] = {}
    out = []
    for r, g in enumerate(gutters):
        fed = set()
        for col, ch in enumerate(g):
            if ch in FEEDS:
                fed.add(source[col])
        for col, ch in enumerate(g):
            if ch in ENDS:
                del source[col]
            if ch in STARTS:
                source[col] = r
        out.append(fed)
    return out


def expected(graph: GraphPane) -> list[set[int]]:
    p = graph.program
    out = []
    for r, row in enumerate(graph.rows):
        srcs = {graph.row_of[j] for m in row.members for j in p.nodes[m].inputs if p.nodes[j].kind != "const"}
        out.append(srcs - {r})
    return out


async def check(path, fold: bool = False) -> None:
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(120, 60)) as pilot:
        graph = app.main.query_one(GraphPane)
        if fold:
            await pilot.press("z")
        gutters = [row.gutter.plain for row in graph.rows]
        assert decode(gutters) == expected(graph)
        assert any(expected(graph))


async def test_lanes_of_sum_over_paths_and_two_layer():
    await check(PATHS)
    await check(TWO_LAYER)
    await check(TWO_LAYER, fold=True)


async def test_lanes_of_a_long_graph(tmp_path: Path):
    lines = ["[scenario]", "title = \"long\"", "[values]", "x = 0.5", "[graph]"]
    prev = ["x"]
    for i in range(60):              # each node reads the previous one and one from further back
        far = prev[max(0, len(prev) - 1 - (i * 7) % 9)]
        lines.append(f'a{i} = "sin({prev[-1]}) * {far}"')
        prev.append(f"a{i}")
    lines += ["[train]", f'loss = "{prev[-1]}"']
    path = tmp_path / "long.toml"
    path.write_text("\n".join(lines))
    load_scenario_text(path.read_text())          # the scenario itself is valid
    await check(path)
