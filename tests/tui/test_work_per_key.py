"""A key press costs what is on screen, not what is in the program: lines rendered and tensor statistics
computed per step (and per element-cursor move) stay the same from a 200-node to a 4,000-node graph, and
from 10-element to 400,000-element tensors. Counts, never times (the benchmarks time: python -m bench)."""
from __future__ import annotations

from collections import Counter

from bench.chain import chain_toml

from gradstep.tui.app import GradstepApp
from gradstep.tui.widgets import lines, tensorview

SIZE = (160, 50)
KEYS = 12


def work() -> Counter:
    return Counter(lines.WORK) + Counter(tensorview.WORK)


async def per_key(path, keys: tuple[str, ...], warm: tuple[str, ...] = ("n",)) -> dict[str, float]:
    """Work counted over the keys, per key, after the first screen and `warm` keys."""
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await pilot.press(*warm)
        await pilot.pause()
        before = work()
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        done = work() - before
    return {k: done[k] / len(keys) for k in ("lines rendered", "statistics computed", "heatmaps computed")}


def wide_vector(n: int) -> str:
    return ('[scenario]\ntitle = "vector"\nseed = 0\n[values]\n'
            f'x = {{ init = "normal", shape = [{n}] }}\n[params]\nw = {{ init = "normal", shape = [{n}] }}\n'
            '[graph]\nu = "w * x"\nv = "sin(u)"\nz = "tanh(v) * u"\nE = "sum(z ** 2)"\n'
            '[train]\nloss = "E"\nlearning_rate = 0.01\nsteps = 5\n')


async def test_steps_cost_the_same_on_a_graph_twenty_times_larger(tmp_path):
    small, large = tmp_path / "c200.toml", tmp_path / "c4000.toml"
    small.write_text(chain_toml(200))
    large.write_text(chain_toml(4000))
    a = await per_key(small, ("n",) * KEYS)
    b = await per_key(large, ("n",) * KEYS)
    screen = SIZE[0] * SIZE[1] // 40                   # a generous bound: a fraction of the screen's lines
    assert a["lines rendered"] <= screen and b["lines rendered"] <= screen, (a, b)
    assert b["lines rendered"] <= 1.5 * a["lines rendered"] + 5, (a, b)
    assert b["statistics computed"] <= a["statistics computed"] + 1 <= 8, (a, b)
    back = await per_key(large, ("p",) * KEYS, warm=("n",) * (KEYS + 1))
    assert back["lines rendered"] <= screen and back["statistics computed"] <= 8, back


async def test_selecting_nodes_costs_the_same_on_a_larger_graph(tmp_path):
    small, large = tmp_path / "c200.toml", tmp_path / "c4000.toml"
    small.write_text(chain_toml(200))
    large.write_text(chain_toml(4000))
    a = await per_key(small, ("k",) * KEYS, warm=("f",))
    b = await per_key(large, ("k",) * KEYS, warm=("f",))
    assert b["lines rendered"] <= 1.5 * a["lines rendered"] + 5, (a, b)
    assert b["statistics computed"] <= a["statistics computed"] + 1, (a, b)


async def test_steps_and_cursor_moves_compute_the_same_statistics_whatever_the_tensor_size(tmp_path):
    small, large = tmp_path / "v10.toml", tmp_path / "v400k.toml"
    small.write_text(wide_vector(10))
    large.write_text(wide_vector(400_000))
    a = await per_key(small, ("n",) * 6, warm=())
    b = await per_key(large, ("n",) * 6, warm=())
    assert b["statistics computed"] <= a["statistics computed"] + 1, (a, b)
    assert b["heatmaps computed"] <= a["heatmaps computed"] + 3, (a, b)
    moves = ("right", "right", "down", "left", "right", "right")
    c = await per_key(large, moves, warm=("f", "f", "t"))
    assert c["statistics computed"] == 0 and c["heatmaps computed"] == 0, c     # the tensor's are kept
    assert c["lines rendered"] <= 40, c


async def test_the_updates_pane_is_rebuilt_only_when_what_it_shows_can_change():
    """Through a forward pass the Updates pane has nothing new to say (no gradient, no update yet): a step
    there rebuilds none of its rows; a backward step that reaches a param, and each update, do."""
    from tuitest import TWO_LAYER

    from gradstep.tui.widgets.updates import UpdatesPane
    app = GradstepApp(TWO_LAYER, watch_file=False)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")                          # the first screen laid out (the pane's height known)
        await pilot.pause()
        made = Counter()
        rows = UpdatesPane._rows

        def counted(*args, **kwargs):
            made[app.stepper.cursor.phase.value] += 1
            return rows(*args, **kwargs)
        pane = app.main.query_one(UpdatesPane)
        pane._rows = counted
        st = app.stepper
        while st.cursor.phase.value == "forward" and st.cursor.index < st.forward_len - 1:
            await pilot.press("n")
        assert st.cursor.phase.value == "forward" and made["forward"] == 0
        text = [t.plain for t in pane.lines]
        await pilot.press(*["n"] * (st.per_iteration - st.tick - 1))    # on to the last update
        await pilot.pause()
        assert made["backward"] > 0 and made["update"] > 0
        assert [t.plain for t in pane.lines] != text                    # it did change
