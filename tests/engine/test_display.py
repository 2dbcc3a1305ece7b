"""The one place that formats tensors: numbers, shapes, small tensors in full, large ones summarised."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gradstep.engine import fmt_num, fmt_shape, format_tensor, stats, summary


@pytest.mark.parametrize("x, text", [
    (math.nan, "nan"), (math.inf, "inf"), (-math.inf, "-inf"), (0.0, "0"), (-0.0, "0"),
    (0.6283185, "0.6283"), (-4.10349, "-4.103"), (1.2e-07, "1.2e-07"), (123456.0, "1.235e+05"), (2.5, "2.5"),
    (np.float64(0.5), "0.5"), (np.array(3.0), "3"), (np.array([7.25]), "7.25"), (np.array([[-1.0]]), "-1"),
])
def test_fmt_num(x, text):
    assert fmt_num(x) == text


def test_fmt_num_refuses_an_array_of_many_numbers():
    with pytest.raises(TypeError, match=r"\(2,\)"):
        fmt_num(np.array([1.0, 2.0]))


@settings(max_examples=300, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda v: v == 0 or 1e-300 < abs(v) < 1e300),
       st.integers(1, 8))
def test_fmt_num_keeps_the_requested_significant_digits(x, digits):
    text = fmt_num(x, digits)
    back = float(text)
    if x == 0:
        assert back == 0
        return
    # Rounded to `digits` significant digits: off by at most half a unit in the last digit kept.
    unit = 10.0 ** (math.floor(math.log10(abs(x))) - digits + 1)
    assert abs(back - x) <= 0.5 * unit * (1 + 1e-9)
    assert len(re.sub(r"e[+-]\d+$", "", text).replace("-", "").replace(".", "").lstrip("0")) <= digits


def test_fmt_shape():
    assert fmt_shape(()) == "()"
    assert fmt_shape((3,)) == "(3,)"
    assert fmt_shape((10, 100)) == "(10, 100)"


def test_stats_are_over_the_finite_entries():
    a = np.array([[1.0, np.nan, -2.0], [np.inf, 4.0, -np.inf]])
    s = stats(a)
    finite = np.array([1.0, -2.0, 4.0])
    assert s == {"min": -2.0, "max": 4.0, "mean": pytest.approx(finite.mean(), rel=1e-15),
                 "norm": pytest.approx(math.sqrt(21.0), rel=1e-15), "nonfinite": 3}


def _numbers(text: str) -> dict[str, float]:
    return {k: float(v) for k, v in re.findall(r"(min|max|mean|norm) (\S+)", text)}


def test_summary_of_a_large_tensor_names_shape_and_statistics():
    a = np.random.default_rng(0).normal(size=(10, 100))
    text = summary(a)
    assert text.startswith("(10, 100) ")
    got = _numbers(text)
    expected = {"min": a.min(), "max": a.max(), "mean": a.mean(), "norm": np.linalg.norm(a)}
    assert set(got) == set(expected)
    for k, v in expected.items():
        assert got[k] == pytest.approx(v, rel=5e-3, abs=5e-4), k       # three significant digits
    assert "non-finite" not in text


def test_summary_counts_non_finite_entries():
    text = summary(np.array([1.0, np.nan, np.inf, 3.0]))
    assert text.startswith("(4,) ") and "(2 non-finite)" in text
    assert _numbers(text)["min"] == 1.0 and _numbers(text)["max"] == 3.0


def test_summary_of_a_scalar_and_of_an_empty_tensor():
    assert summary(np.array(0.125)) == "0.125"
    assert summary(np.array(math.nan)) == "nan"
    assert summary(np.zeros((0, 3))) == "(0, 3) empty"


def test_format_tensor_small_tensors_in_full():
    assert format_tensor(np.array(2.0)) == "2"
    assert format_tensor(np.array(-math.inf)) == "-inf"
    assert format_tensor(np.array([1.0, 2.5, math.nan])) == "[1, 2.5, nan]"
    text = format_tensor(np.array([[1.0, -0.5], [1e-9, 12345.678]]))
    assert text.splitlines() == ["[[1, -0.5],", " [1e-09, 1.235e+04]]"]
    assert format_tensor(np.zeros(0)) == "[]"


def test_format_tensor_summarises_large_and_high_rank_tensors():
    big = np.arange(65.0)
    assert format_tensor(big) == summary(big)
    assert format_tensor(np.arange(64.0)).count(",") == 63
    cube = np.ones((2, 2, 2))
    assert format_tensor(cube) == summary(cube)
    assert format_tensor(np.arange(10.0), max_elements=5) == summary(np.arange(10.0))
    huge = np.ones((1000, 1000))
    assert len(format_tensor(huge)) < 100


@given(st.floats(allow_nan=False, allow_infinity=False))
def test_full_digits_read_back_to_the_same_float(x):
    from gradstep.engine import FULL
    assert x == 0 or float(fmt_num(x, FULL)) == x
    assert fmt_num(math.exp(math.sin(1.5 ** 2)), FULL) == "2.177273044783055"
    assert format_tensor(np.array([0.1, 1 / 3]), FULL) == "[0.1, 0.3333333333333333]"
