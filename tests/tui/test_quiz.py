"""Predict, then reveal: the marking at the tolerance's edges (exact arithmetic: the edge counts as right), the
answers it reads, which steps ask, and the quiz in the running app (asks before n, f and c pass an asked step,
reveals with the formula, keeps the score, does not ask again after going back, a toggles it)."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

from gradstep.engine import QuizSpec, Stepper, load_scenario, load_scenario_text
from gradstep.tui.app import GradstepApp
from gradstep.tui.quiz import Asked, element, is_right, parse_answer, plan
from gradstep.tui.screens.quiz import QuizScreen

from tuitest import CHAIN, PATHS, TWO_LAYER, wait_for


def right(text: str, value: float, tolerance: float = 1e-3) -> bool:
    return is_right(parse_answer(text), value, tolerance)


# ---------------------------------------------------------------- the marking
@pytest.mark.parametrize("text, ok", [
    ("2", True), ("2.002", True), ("1.998", True),              # the edges: |a - v| = 1e-3·|v| exactly
    ("2.0020000001", False), ("1.9979999999", False), ("2.1", False), ("-2", False), ("4/2", True),
    ("2002e-3", True), ("0.2002e1", True),
])
def test_marking_at_the_edges_of_a_relative_tolerance(text, ok):
    assert right(text, 2.0) is ok


def test_negative_values_are_marked_by_their_size():
    assert right("-2.002", -2.0) and right("-1.998", -2.0)
    assert not right("-2.00201", -2.0) and not right("2", -2.0)


def test_a_value_reads_as_the_decimal_it_prints_as():
    v = 0.1                                      # the float is 0.1000000000000000055511151231257827...
    edge = Fraction(1, 10) * (1 + Fraction(1, 1000))
    assert is_right(edge, v, 1e-3)
    assert not is_right(edge + Fraction(1, 10**40), v, 1e-3)
    assert right("0.1001", v) and right("0.0999", v) and not right("0.10011", v) and not right("0.09989", v)
    third = 1 / 3                                # repr 0.3333333333333333
    assert right("1/3", third) and right("0.333", third) and not right("0.3329", third)


@pytest.mark.parametrize("tolerance, inside, outside", [(1e-2, "1.01", "1.0101"), (0.5, "1.5", "1.51"),
                                                       (1e-6, "1.000001", "1.0000011")])
def test_the_scenario_tolerance_sets_the_edge(tolerance, inside, outside):
    assert right(inside, 1.0, tolerance) and not right(outside, 1.0, tolerance)


def test_zero_wants_zero_within_1e_12():
    assert right("0", 0.0) and right("-0", 0.0) and right("1e-12", 0.0)
    assert not right("1.1e-12", 0.0) and not right("0.001", 0.0)
    assert right("0", 1e-17)                     # rounding noise around a true 0


def test_nan_and_infinity_want_themselves():
    assert right("nan", math.nan) and not right("0", math.nan)
    assert right("inf", math.inf) and right("-inf", -math.inf) and not right("inf", -math.inf)
    assert not right("1e308", math.inf) and not right("inf", 1.0) and not right("nan", 1.0)


@pytest.mark.parametrize("text, value", [("2/3", Fraction(2, 3)), (" −1.5 ", Fraction(-3, 2)), ("1e-3", Fraction(1, 1000)),
                                         ("+.5", Fraction(1, 2)), ("3.", Fraction(3)), ("-1/4", Fraction(-1, 4))])
def test_answers_are_read_exactly(text, value):
    assert parse_answer(text) == value


@pytest.mark.parametrize("text", ["", "abc", "1/0", "1e9999", "2**3", "1,5", "0x10", "1/2/3", "9" * 70])
def test_what_is_not_a_number_is_refused_with_a_sentence(text):
    with pytest.raises(ValueError, match="not a number|over 0"):
        parse_answer(text)


# ---------------------------------------------------------------- which steps ask
def test_the_plan_asks_before_the_steps_that_compute_each_asked_thing():
    sc = load_scenario(PATHS)
    p = sc.program
    spec = QuizSpec((p.by_name["c"], p.by_name["e"]), (p.by_name["b"], p.by_name["e"]))
    questions = plan(p, spec)
    forward_len = len(p.ops)
    assert questions[p.ops.index(p.by_name["c"])].asked is Asked.VALUE
    assert questions[forward_len].consumer == p.by_name["e"]          # the seed ∂e/∂e
    # b has two consumers (c and d): two questions, one before each contribution.
    to_b = [q for q in questions.values() if q.node == p.by_name["b"]]
    assert sorted(q.consumer for q in to_b) == sorted([p.by_name["c"], p.by_name["d"]])
    assert all(q.offset > forward_len for q in to_b)


def test_a_tensor_question_asks_for_one_element_the_same_each_time():
    shape = (10, 100)
    k = element(shape, 0, 4, 1)
    assert k == element(shape, 0, 4, 1) and all(0 <= i < n for i, n in zip(k, shape))
    assert element((), 0, 4, 1) == () and element((1,), 0, 4, 1) == (0,)


# ---------------------------------------------------------------- in the app
QUIZ = CHAIN.read_text() + '\n[quiz]\nask = ["u", "v", "grad(x)"]\n'


def quiz_file(tmp_path, text: str = QUIZ):
    path = tmp_path / "quiz.toml"
    path.write_text(text)
    return path


async def answer(pilot, text: str):
    app = pilot.app
    assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
    await pilot.press(*text, "enter") if text else await pilot.press("enter")
    assert await wait_for(pilot, lambda: app.screen.reveal is not None, polls=300)
    return app.screen.reveal


async def test_the_quiz_asks_marks_reveals_and_keeps_the_score(tmp_path):
    app = GradstepApp(quiz_file(tmp_path), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.quiz.on                                   # the [quiz] table switches it on
        await pilot.press("n")
        assert app.stepper.tick == 0                         # asked before u is computed
        assert "What is u?" in app.screen.question
        r = await answer(pilot, "2.25")
        assert r.right and app.stepper.tick == 1 and r.lines[0].startswith("u = 2.25   (u = x ** 2)")
        await pilot.press("enter")
        await pilot.press("f")                               # f stops before v, the next asked step
        r = await answer(pilot, "0.7")
        assert r.right is False and r.value == pytest.approx(math.sin(2.25))
        await pilot.press("escape")
        await pilot.press("c")                               # c runs on, up to the step that passes to x
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        assert "What gradient does u pass back to x" in app.screen.question
        r = await answer(pilot, "")                          # reveal without an answer
        assert r.right is None and r.value == pytest.approx(math.exp(math.sin(2.25)) * math.cos(2.25) * 3)
        assert "∂f/∂u · ∂u/∂x = ∂f/∂u · 2·x" in r.lines[1]
        assert r.score == "1 right of 2, 1 revealed without an answer"
        await pilot.press("escape")
        assert app.quiz.score.marked == 2


async def test_going_back_does_not_ask_again_and_a_turns_it_off(tmp_path):
    app = GradstepApp(quiz_file(tmp_path), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await answer(pilot, "2.25")
        await pilot.press("escape", "p")
        assert app.stepper.tick == 0
        await pilot.press("n")                               # u was answered: no second question
        await pilot.pause()
        assert app.stepper.tick == 1 and not isinstance(app.screen, QuizScreen)
        await pilot.press("a")                               # quiz off: v is not asked
        await pilot.press("n")
        await pilot.pause()
        assert app.stepper.tick == 2 and not isinstance(app.screen, QuizScreen)


async def test_escape_on_a_question_asks_later_without_stepping(tmp_path):
    app = GradstepApp(quiz_file(tmp_path), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        await pilot.press("escape")
        await pilot.pause()
        assert app.stepper.tick == 0 and app.quiz.score.marked == 0
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)


async def test_a_bad_answer_is_refused_in_the_box(tmp_path):
    app = GradstepApp(quiz_file(tmp_path), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        await pilot.press(*"two", "enter")
        await pilot.pause()
        assert app.screen.reveal is None and app.stepper.tick == 0
        assert "not a number" in str(app.screen.query_one("#quiz-problem").render())


async def test_a_tensor_asks_for_one_element(tmp_path):
    text = TWO_LAYER.read_text() + '\n[quiz]\nask = ["h"]\n'
    app = GradstepApp(quiz_file(tmp_path, text), watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("f")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        assert "one element of h, shape (10,)" in app.screen.question
        st = app.stepper
        h = st.program.by_name["h"]
        k = element((10,), st.scenario.seed, h, 1)
        r = await answer(pilot, "")
        assert r.value == float(st.value(h)[k])
        assert r.lines[0].startswith(f"h[{k[0]}] = ")


async def test_without_a_quiz_table_a_asks_about_every_named_node():
    app = GradstepApp(PATHS, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert not app.quiz.on
        await pilot.press("n")
        await pilot.pause()
        assert app.stepper.tick == 1                        # off: n just steps
        await pilot.press("a", "n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        assert "What is d?" in app.screen.question


def test_the_tolerance_comes_from_the_scenario():
    sc = load_scenario_text(QUIZ.replace('ask = ["u", "v", "grad(x)"]', 'ask = ["u"]\ntolerance = 0.1'))
    assert sc.quiz.tolerance == 0.1 and Stepper(sc).scenario.quiz.values == (sc.program.by_name["u"],)


async def test_a_reload_while_a_question_is_open_marks_nothing(tmp_path):
    path = quiz_file(tmp_path)
    app = GradstepApp(path, watch_file=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        assert await wait_for(pilot, lambda: isinstance(app.screen, QuizScreen), polls=300)
        old = app.stepper
        app.source.reload()
        assert await wait_for(pilot, lambda: app.stepper is not old, polls=500)
        r = app.quiz.answer(app.quiz.questions[0], "2.25")
        assert r.right is None and "changed" in r.lines[0] and app.quiz.score.marked == 0
