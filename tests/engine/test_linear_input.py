"""Input handling is linear: long lines of spaces, wide CSV headers and thousands of names cost in
proportion to their size, checked by counting work or by the growth between two sizes in one run.

(Each of these was quadratic: the header regex on a run of spaces, a CSV column lookup per name,
difflib against every known name for one typo.)
"""
from __future__ import annotations

import time

import pytest

from gradstep.engine import ScenarioError, load_scenario, load_scenario_text
from gradstep.engine import tomltext
from gradstep.engine.tomltext import find_line


def _best(fn, repeats: int = 3) -> float:
    out = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return min(out)


def _growth(make, n: int) -> float:
    """How much longer 4n costs than n: about 4 when linear, about 16 when quadratic."""
    small, big = make(n), make(4 * n)
    return _best(big) / _best(small)


def test_finding_a_line_is_linear_in_a_line_of_spaces():
    def make(n):
        text = "[" + " " * n + "\n[train]\nloss = 1\n"
        return lambda: find_line(text, "train", "loss")
    assert _growth(make, 250_000) < 8


def test_an_error_in_a_file_with_a_huge_string_of_spaces_is_reported_in_linear_time():
    def make(n):
        text = '[scenario]\ntitle = "t"\ndescription = """' + " " * n + '"""\n[graph]\nE = "x"\n[train]\nloss = "E"\n'

        def load():
            with pytest.raises(ScenarioError, match="unknown name 'x'"):
                load_scenario_text(text)
        return load
    assert _growth(make, 250_000) < 8


def test_csv_column_lookup_is_linear_in_the_names_bound(tmp_path):
    def make(n):
        folder = tmp_path / f"w{n}"
        folder.mkdir()
        cols = [f"column_{k}" for k in range(n)]
        (folder / "d.csv").write_text(",".join(cols) + "\n" + ",".join("1" for _ in cols) + "\n")
        names = ", ".join(f'"{c}"' for c in cols)
        (folder / "s.toml").write_text(f'[scenario]\ntitle = "t"\n[data]\nfile = "d.csv"\nx = [{names}]\n'
                                       f'[graph]\nE = "sum(x)"\n[train]\nloss = "E"\n')
        return lambda: load_scenario(folder / "s.toml")
    assert _growth(make, 2_000) < 8


def test_did_you_mean_compares_a_bounded_number_of_names(monkeypatch):
    seen = []
    real = tomltext.difflib.get_close_matches

    def counting(word, possibilities, n=3, cutoff=0.6):
        seen.append(len(possibilities))
        return real(word, possibilities, n=n, cutoff=cutoff)
    monkeypatch.setattr(tomltext.difflib, "get_close_matches", counting)
    names = [f"activation_of_layer_{k:05d}_in_the_long_network" for k in range(19_000)]
    text = "[scenario]\ntitle = 't'\n[values]\n" + "".join(f"{n} = 1.0\n" for n in names) \
        + '[graph]\nE = "activation_of_layer_01234_in_the_long_netwrk * 2"\n[train]\nloss = "E"\n'
    with pytest.raises(ScenarioError, match="did you mean 'activation_of_layer_01234_in_the_long_network'"):
        load_scenario_text(text)
    assert seen and max(seen) <= tomltext.MAX_SUGGEST_CANDIDATES
