"""Fuzzing the loader with hypothesis: any input either loads or raises ScenarioError, nothing else.

Scenarios are generated table by table (values, params, data, graph, train), written as TOML, then
mutated as text; expressions are also fuzzed as token soup, CSV files as cell soup, and whole files
as random text and bytes. A scenario that loads is then stepped, stepped back, replayed on the fast
path and traced, and those may raise only ScenarioError too.

The normal run tries about 200 cases (N = 200). GRADSTEP_FUZZ_EXAMPLES=N raises it (`make fuzz` sets 100,000);
each test then runs a share of N, and prints how many cases it ran and how many loaded.
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import warnings
from collections import Counter
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep.engine import ScenarioError, Stepper, load_scenario, load_scenario_text
from gradstep.engine.cli import trace_record

N = int(os.environ.get("GRADSTEP_FUZZ_EXAMPLES", "200"))


def fuzz_settings(share: float):
    return settings(max_examples=max(10, int(N * share)), deadline=None, database=None if N > 1000 else
                    settings.default.database, suppress_health_check=list(HealthCheck))


# ----------------------------------------------------------------------------- TOML writing
def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        return "nan" if math.isnan(v) else ("inf" if v == math.inf else "-inf" if v == -math.inf else repr(v))
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{toml_key(k)} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def toml_key(k: str) -> str:
    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def toml_document(tables: dict[str, dict]) -> str:
    out = []
    for table, body in tables.items():
        out.append(f"[{toml_key(table)}]")
        out.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in body.items())
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- strategies
NAMES = ["x", "y", "w", "b", "W1", "W2", "h", "z", "a", "t", "u", "v"]
ODD_NAMES = ["relu", "__x", "T", "1a", "é", "x.y", "", "sum", "E", "__import__", "x y", "_"]
UNARY = ["exp", "log", "sin", "cos", "tanh", "sigmoid", "relu", "sqrt", "abs"]
WEIRD_FLOATS = [0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e308, -1e308, 5e-324, 1e-300, math.inf, -math.inf, math.nan]

floats = st.one_of(st.floats(-3, 3, allow_nan=False), st.sampled_from(WEIRD_FLOATS))
names = st.one_of(st.sampled_from(NAMES), st.sampled_from(ODD_NAMES), st.text(max_size=4))


@st.composite
def shapes(draw, max_axes=3):
    return draw(st.lists(st.integers(1, 4), max_size=max_axes))


@st.composite
def nested(draw, shape=None, values=None):
    """A rectangular nested list of numbers."""
    shape = draw(shapes()) if shape is None else shape
    values = floats if values is None else values
    if not shape:
        return draw(values)
    return [draw(nested(shape[1:], values)) for _ in range(shape[0])]


@st.composite
def leaf_specs(draw, n: int, noisy: bool):
    """A value or param: a literal or an init table. Clean ones have shape (), (n,) or (n, n)."""
    shape = draw(st.sampled_from([[n], [n, n], [], [n, 1], [1, n]]))
    if noisy and draw(st.integers(0, 3)) == 3:
        return draw(st.sampled_from(["one", True, [], [[1.0], [1.0, 2.0]], {}, [1.0, "a"], 10 ** 400,
                                     {"init": "gaussian", "shape": [2]}, {"init": "normal", "shape": [-1]},
                                     {"init": "normal", "shape": [2], "sclae": 1.0}, [math.nan],
                                     {"init": "ones", "shape": [2], "scale": math.inf}]))
    if draw(st.booleans()):
        return draw(nested(shape, floats if noisy else st.floats(-3, 3, allow_nan=False)))
    spec = {"init": draw(st.sampled_from(["normal", "uniform", "zeros", "ones"])), "shape": shape}
    if draw(st.booleans()):
        spec["scale"] = draw(st.floats(0, 2))
    return spec


@st.composite
def expressions(draw, known: list[str], depth: int = 0):
    """An expression over known names (sometimes unknown ones and forbidden syntax)."""
    choice = draw(st.integers(0, 13 if depth < 3 else 1))
    if choice <= 1 or not known:
        if known and draw(st.integers(0, 4)):
            return draw(st.sampled_from(known))
        return draw(st.one_of(st.sampled_from(["2", "0.5", "-1", "0", "1e308", "1e999"]), names))
    sub = lambda: draw(expressions(known, depth + 1))   # noqa: E731 - reads like the grammar
    if choice == 2:
        return f"-{sub()}"
    if choice <= 5:
        return f"({sub()} {draw(st.sampled_from(['+', '-', '*', '/', '@']))} {sub()})"
    if choice == 6:
        return f"({sub()}) ** {draw(st.sampled_from(['2', '0.5', '-1', '3', '0', '1e400', 'x']))}"
    if choice <= 8:
        return f"{draw(st.sampled_from(UNARY))}({sub()})"
    if choice == 9:
        op = draw(st.sampled_from(["sum", "mean", "softmax"]))
        kw = draw(st.sampled_from(["", ", axis=0", ", axis=-1", ", axis=1", ", axis=(0, 1)", ", axis=5",
                                   ", keepdims=True", ", axis=0, keepdims=True", ", axis=None"]))
        return f"{op}({sub()}{kw})"
    if choice == 10:
        return f"{draw(st.sampled_from(['mse', 'cross_entropy']))}({sub()}, {sub()})"
    if choice == 11:
        return f"({sub()}).T"
    if choice == 12:
        return draw(st.sampled_from(["x[0]", "x.shape", "(lambda: 1)()", "'s'", "__import__('os')",
                                     "[a for a in x]", "(y := 1)", "x if x else x", "f'{x}'", "sum(*x)"]))
    return f"({sub()})"


@st.composite
def scenarios(draw):
    """A scenario as tables of Python values, written as TOML text.

    Hypothesis starts from the smallest draws, so the smallest draw is always the well-formed
    choice; 'noisy' scenarios add wrong types, odd names and missing parts on top.
    """
    noisy = draw(st.integers(0, 3)) == 3
    rare = lambda k: noisy and draw(st.integers(0, k)) == k   # noqa: E731
    n = draw(st.integers(1, 4))
    tables: dict[str, dict] = {}
    if not rare(9):
        meta = {"title": draw(st.text(max_size=12))}
        if draw(st.booleans()):
            meta["seed"] = draw(st.integers(-5, 2**64)) if noisy else draw(st.integers(0, 2**63 - 1))
        if draw(st.booleans()):
            meta["description"] = draw(st.text(max_size=20))
        tables["scenario"] = meta
    known: list[str] = []
    for table in ("values", "params"):
        body = {}
        for _ in range(draw(st.integers(0, 3))):
            name = draw(names) if rare(5) else draw(st.sampled_from([nm for nm in NAMES if nm not in known]))
            body[name] = draw(leaf_specs(n, noisy))
            known.append(name)
        if body or draw(st.booleans()):
            tables[table] = body
    if draw(st.integers(0, 3)) == 3:
        rows = draw(st.integers(1, 6))
        body = {}
        for _ in range(draw(st.integers(1, 2))):
            name = draw(st.sampled_from([d for d in ["d", "dx", "dy", "c"] if d not in known]))
            if draw(st.integers(0, 3)) == 3:          # class indices, sometimes out of range
                body[name] = [draw(st.integers(0, n - 1 + int(noisy))) for _ in range(rows)]
            else:
                row_shape = draw(st.sampled_from([[], [n]]))
                body[name] = [draw(nested(row_shape, st.floats(-3, 3))) for _ in range(rows)]
            known.append(name)
        if draw(st.booleans()):
            body["batch"] = draw(st.integers(0, rows + 1)) if noisy else draw(st.integers(1, rows))
        if draw(st.booleans()):
            body["shuffle"] = draw(st.one_of(st.booleans(), st.just(1))) if noisy else draw(st.booleans())
        tables["data"] = body
    graph = {}
    for _ in range(draw(st.integers(0, 3))):
        key = draw(names) if rare(5) else draw(st.sampled_from([k for k in ["h", "g", "z2", "q"] if k not in graph]))
        graph[key] = draw(expressions(known))
        known.append(key)
    wrap = draw(st.sampled_from(["sum({})", "mean({})", "sum(({})**2)", "{}"]))
    graph["E"] = wrap.format(draw(expressions(known)))
    if not rare(9):
        tables["graph"] = graph
    if not rare(9):
        train = {"loss": draw(st.sampled_from(["E", "h", "x", "nope"])) if rare(3) else "E",
                 "learning_rate": draw(floats) if noisy else draw(st.floats(0, 1))}
        if rare(5):
            del train["learning_rate"]
        if draw(st.booleans()):
            train["steps"] = draw(st.one_of(st.integers(-1, 10**8), st.just("3"))) if rare(3) else \
                draw(st.integers(1, 4))
        if draw(st.integers(0, 3)) == 3:
            train["grad_norm_limit"] = draw(floats) if noisy else draw(st.floats(0.01, 100))
        tables["train"] = train
    order = draw(st.permutations(list(tables))) if draw(st.booleans()) else list(tables)
    return toml_document({t: tables[t] for t in order})


TOKENS = ["x", "w", "W", "E", "h", "relu", "sum", "mean", "exp", "log", "softmax", "cross_entropy", "mse",
          "(", ")", "(", ")", "[", "]", "+", "-", "*", "/", "@", "**", ".T", ".", ",", "axis", "=", "keepdims",
          "True", "None", "0", "1", "2", "-1", "0.5", "1e308", "1e999", "lambda", ":", "__import__", "'os'",
          "__class__", "for", "in", "if", "else", ":=", "not", "and", "~", "%", "//", "<", "{", "}", "\\",
          "\"", "'", "\n", "#", "0x10", "1_0", "j", "1j", "…", "é", "\x00", "yield", "await"]


@st.composite
def mutated(draw, text: str) -> str:
    """A few text edits: cut, insert, duplicate, swap, renumber, truncate."""
    for _ in range(draw(st.integers(0, 3))):
        lines = text.split("\n")
        kind = draw(st.integers(0, 6))
        if kind == 0 and text:
            i = draw(st.integers(0, len(text) - 1))
            text = text[:i] + text[i + draw(st.integers(1, 8)):]
        elif kind == 1:
            i = draw(st.integers(0, len(text)))
            text = text[:i] + draw(st.one_of(st.sampled_from(TOKENS + ["[values]", "[graph]", "= ", "\"\"\""]),
                                             st.text(max_size=3))) + text[i:]
        elif kind == 2 and lines:
            i = draw(st.integers(0, len(lines) - 1))
            lines.insert(i, lines[i])
            text = "\n".join(lines)
        elif kind == 3 and len(lines) > 1:
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            text = "\n".join(lines)
        elif kind == 4:
            numbers = list(re.finditer(r"\d+(\.\d+)?", text))
            if numbers:
                m = draw(st.sampled_from(numbers))
                new = draw(st.sampled_from(["0", "-1", "100000", "1e308", "99999999999999999999", "nan", "inf",
                                            "3.5", "4"]))
                text = text[:m.start()] + new + text[m.end():]
        elif kind == 5 and text:
            text = text[:draw(st.integers(0, len(text)))]
        elif kind == 6:
            names_here = sorted(set(re.findall(r"\b[A-Za-z_]\w*\b", text)))
            if len(names_here) > 1:
                a, b = draw(st.sampled_from(names_here)), draw(st.sampled_from(names_here))
                text = re.sub(rf"\b{re.escape(a)}\b", b, text, count=1)
    return text


# ----------------------------------------------------------------------------- the property
def exercise(load, stats: Counter) -> None:
    """Load, and if it loads, step and trace a little: only ScenarioError may escape, and no
    NumPy warning (the TUI and the CLI would show it raw)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _exercise(load, stats)
    assert not caught, [f"{w.filename}:{w.lineno}: {w.category.__name__}: {w.message}" for w in caught]


def _exercise(load, stats: Counter) -> None:
    try:
        s = load()
    except ScenarioError as e:
        assert isinstance(e.problem, str) and e.problem and str(e)
        stats["refused"] += 1
        return
    stats["loaded"] += 1
    if s.work > 200_000:         # legal but slow to step: loading it was the test
        return
    try:
        st_ = Stepper(s, steps=min(s.steps, 3))
    except ScenarioError:
        stats["refused by stepper"] += 1
        return
    events = 0
    for _ in range(min(st_.total_ticks, 40)):
        ev = st_.step()
        json.dumps(trace_record(st_, ev))
        events += 1
        if ev.anomaly is not None:
            stats["anomaly"] += 1
            break
    for _ in range(min(events, 5)):
        st_.back()
    st_.run_phase()
    st_.seek(0)
    st_.run_iterations(min(st_.steps, 3))
    assert st_.losses.shape[0] >= 1


def run_counted(test, capsys, label: str) -> None:
    stats: Counter = Counter()
    test(stats)
    with capsys.disabled():
        total = sum(stats[k] for k in ("loaded", "refused"))
        print(f"\n[fuzz] {label}: {total:,} cases, {stats['loaded']:,} loaded, {stats['refused']:,} refused"
              + "".join(f", {v:,} {k}" for k, v in stats.items() if k not in ("loaded", "refused")))
    assert stats["loaded"] + stats["refused"] > 0


def test_fuzz_generated_and_mutated_scenarios(capsys):
    @fuzz_settings(0.5)
    @given(st.data())
    def check(stats, data):
        text = data.draw(scenarios())
        if data.draw(st.integers(0, 2)):
            text = data.draw(mutated(text))
        exercise(lambda: load_scenario_text(text, file="fuzz.toml"), stats)

    run_counted(check, capsys, "generated scenarios")


def test_fuzz_expressions(capsys):
    frame = ('[scenario]\ntitle = "f"\n[values]\nx = [0.5, -1.5]\nt = [1.0]\n[params]\nw = [0.25, 2.0]\n'
             'W = [[1.0, 0.5], [-0.5, 2.0]]\n[graph]\n{graph}[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 2\n')

    @fuzz_settings(0.25)
    @given(st.lists(st.sampled_from(TOKENS), max_size=14), st.lists(st.sampled_from(["", " "]), max_size=14),
           st.booleans())
    def check(stats, tokens, spaces, inner):
        expr = "".join(t + (spaces[i] if i < len(spaces) else "") for i, t in enumerate(tokens))
        graph = (f"h = {json.dumps(expr)}\nE = \"sum(h)\"\n" if inner else f"E = {json.dumps(expr)}\n")
        exercise(lambda: load_scenario_text(frame.format(graph=graph), file="fuzz.toml"), stats)

    run_counted(check, capsys, "expressions")


CELLS = ["1", "2.5", "-3", "0", "1e308", "1e999", "nan", "inf", "-inf", "", " ", "abc", "0x1", "1_0", "\"1\"",
         "\"a,b\"", "\"unclosed", "3\n4", "1;2", "\x00", "é", "1e-400", "+1", "--1"]


@st.composite
def csv_cases(draw):
    """A CSV file and the [data] table that binds it; the smallest draws are well-formed."""
    noisy = draw(st.integers(0, 2)) == 2
    header = draw(st.lists(st.sampled_from(["a", "b", "c", " a", "", "a"]), max_size=4)) if noisy \
        else ["a", "b", "c"]
    width = draw(st.integers(0, 4)) if noisy else 3
    cells = st.sampled_from(CELLS) if noisy else st.sampled_from(CELLS[:4])
    rows = draw(st.lists(st.lists(cells, min_size=width, max_size=width), min_size=0 if noisy else 1,
                         max_size=8))
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join([",".join(header)] + [",".join(r) for r in rows]) + newline
    if noisy and draw(st.booleans()):
        text = draw(mutated(text))
    bindings = draw(st.lists(st.one_of(st.sampled_from(["a", "b", "c", "z"]), st.just(["a", "b"]), st.just([]),
                                       st.just(["a", "a", "c"]), st.just(3)), min_size=1, max_size=2))
    data = {"file": "d.csv", **{f"v{i}": b for i, b in enumerate(bindings)}}
    if draw(st.booleans()):
        data["batch"] = draw(st.one_of(st.integers(-1, 9), st.just("2"))) if noisy else \
            draw(st.integers(1, max(1, len(rows))))
    data["shuffle"] = draw(st.booleans())
    raw_tail = noisy and draw(st.booleans())       # a byte that is not UTF-8
    return text, data, raw_tail


def test_fuzz_csv_files(capsys):
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)

        @fuzz_settings(0.125)
        @given(csv_cases())
        def check(stats, case):
            text, data, raw_tail = case
            path = folder / "d.csv"
            raw = text.encode("utf-8", "surrogatepass")
            path.write_bytes(raw + b"\xff" if raw_tail else raw)
            scenario = toml_document({"scenario": {"title": "csv"}, "data": data}) + \
                '[graph]\nE = "sum(v0 * v0)"\n[train]\nloss = "E"\nsteps = 3\n'
            (folder / "s.toml").write_text(scenario)
            exercise(lambda: load_scenario(folder / "s.toml"), stats)

        run_counted(check, capsys, "CSV files")


def test_fuzz_random_text_and_bytes(capsys):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "r.toml"

        @fuzz_settings(0.125)
        @given(st.one_of(st.text(max_size=200), st.binary(max_size=200).map(lambda b: b.decode("latin-1")),
                         st.lists(st.sampled_from(["[scenario]", "[graph]", "[train]", "[values]", "title = \"t\"",
                                                   "E = \"x\"", "loss = \"E\"", "x = 1", "\n", "=", "[[graph]]",
                                                   "[graph.E]", "a.b = 1", "x = [", "]", "{", "}"]),
                                  max_size=14).map("\n".join)),
               st.booleans())
        def check(stats, text, as_file):
            if as_file:
                path.write_bytes(text.encode("utf-8", "surrogatepass"))
                exercise(lambda: load_scenario(path), stats)
            else:
                exercise(lambda: load_scenario_text(text), stats)

        run_counted(check, capsys, "random text")


def test_fuzzer_generates_loadable_scenarios():
    """The generator is not all noise: a fair share of its unmutated output loads (derandomized; 300
    examples, about a fifth of which load, so the share does not hang on the first few examples that
    hypothesis happens to draw, whatever ran before)."""
    texts = []

    @settings(max_examples=300, database=None, derandomize=True, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(scenarios())
    def collect(text):
        texts.append(text)

    collect()
    loaded = 0
    for text in texts:
        try:
            load_scenario_text(text)
            loaded += 1
        except ScenarioError:
            pass
    assert len(texts) >= 150
    assert loaded >= len(texts) // 10, (loaded, len(texts))


COND_TOKENS = ["loss", "iteration", "eta", "h", "x", "W", "w", "E", "grad(", "update(", "norm(", "max(", "min(",
               "mean(", "sum(", "count(", "any(", "all(", "abs(", "sign(", "isfinite(", "dead(", "saturated(",
               "ratio(", "changed(", "(", ")", "[", "]", ",", "0", "1", "-1", "2.5", "1e9", "1e999", "nan", "True",
               "<", "<=", ">", ">=", "==", "!=", "and", "or", "not", "+", "-", "*", "/", "**", "%", "@", ".",
               "__class__", "'s'", "lambda", ":", "if", "else", "#", "\\x1b", "h[0]", "W[1, 0]", "W[5, 5]"]


def test_fuzz_breakpoint_conditions(capsys):
    """Conditions are untrusted input too: token soup either compiles or is refused with ScenarioError, and
    a compiled one evaluates at every step of a stepped iteration to a bool, 'not available', or a
    reported numeric problem, nothing else."""
    from gradstep.engine import NumericProblem, Unavailable, compile_condition
    text = ('[scenario]\ntitle = "c"\n[values]\nx = [0.5, -1.5]\n[params]\nW = [[1.0, 0.5], [-0.5, 2.0]]\n'
            'w = [0.25, 2.0]\n[graph]\nh = "relu(W @ x) * w"\nt = "tanh(h)"\nE = "sum(t ** 2)"\n[train]\nloss = "E"\n'
            'learning_rate = 0.1\nsteps = 2\n')
    sc = load_scenario_text(text)

    @fuzz_settings(0.25)
    @given(st.lists(st.sampled_from(COND_TOKENS), max_size=12), st.lists(st.sampled_from(["", " "]), max_size=12))
    def check(stats, tokens, spaces):
        cond = "".join(t + (spaces[i] if i < len(spaces) else "") for i, t in enumerate(tokens))
        for test in (True, False):
            try:
                c = compile_condition(cond, sc.program, test=test)
            except ScenarioError:
                stats["refused"] += 1
                continue
            stats["loaded"] += 1
            st_ = Stepper(sc, steps=2)
            memory = c.new_memory()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                while not st_.at_end:
                    st_.step()
                    try:
                        import numpy as np
                        with np.errstate(all="ignore"):
                            v = c.evaluate(st_.view(), memory)
                        assert isinstance(v, bool) if test else v is not None
                    except (Unavailable, NumericProblem):
                        stats["unavailable or nan"] += 1

    run_counted(check, capsys, "breakpoint conditions")


# ----------------------------------------------------------------------------- safetensors headers
ST_KEYS = ["dtype", "shape", "data_offsets", "__metadata__", "W", "w", "", "x" * 3, "dtype ", "\u202e", "\x1b]0;t\x07"]
ST_DTYPES = ["F64", "F32", "F16", "BF16", "I64", "I32", "I16", "I8", "U8", "BOOL", "F8_E4M3", "f64", "", "C64"]
ints = st.one_of(st.integers(-3, 40), st.sampled_from([2 ** 31, 2 ** 53 + 1, 2 ** 63, 2 ** 64 + 7, -2 ** 63]))
json_scalars = st.one_of(st.none(), st.booleans(), ints, st.floats(allow_nan=True), st.text(max_size=6))
json_values = st.recursive(json_scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                                 st.dictionaries(st.text(max_size=4), inner, max_size=3)),
                           max_leaves=8)


@st.composite
def st_entries(draw):
    """One tensor's entry: mostly well-formed, with any field swapped for a wrong type or dropped."""
    shape = draw(st.lists(st.integers(0, 4), max_size=3))
    size = {"F64": 8, "F32": 4, "F16": 2, "BF16": 2, "I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1}
    dtype = draw(st.sampled_from(ST_DTYPES))
    begin = draw(st.sampled_from([0, 0, 0, 1, 8, 16]))
    end = begin + math.prod(shape) * size.get(dtype, 8) + draw(st.sampled_from([0, 0, 0, -1, 1, -begin - 1]))
    entry = {"dtype": dtype, "shape": shape, "data_offsets": [begin, end]}
    for key in draw(st.lists(st.sampled_from(["dtype", "shape", "data_offsets"]), max_size=1)):
        if draw(st.booleans()):
            entry.pop(key, None)
        else:
            entry[key] = draw(json_values)
    if draw(st.booleans()):
        entry[draw(st.sampled_from(ST_KEYS))] = draw(json_values)
    return entry


@st.composite
def safetensors_files(draw) -> bytes:
    """A header generated as JSON (tensors, metadata, odd keys), then the length word and the data
    buffer, then the bytes mutated: the length word rewritten, bytes flipped, the file cut."""
    obj = {draw(st.sampled_from(ST_KEYS)): draw(st_entries()) for _ in range(draw(st.integers(0, 2)))}
    if draw(st.integers(0, 3)):
        obj["W"] = draw(st_entries())
    if draw(st.booleans()):
        obj["__metadata__"] = draw(st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2),
                                             json_values))
    head = json.dumps(obj, allow_nan=True).encode()
    if draw(st.booleans()):
        head += draw(st.sampled_from([b"", b" ", b"\xff", b"}", b"{"]))
    ends = [e["data_offsets"][1] for e in obj.values() if isinstance(e, dict) and isinstance(e.get("data_offsets"), list)
            and len(e["data_offsets"]) == 2 and all(isinstance(v, int) for v in e["data_offsets"])]
    data = draw(st.one_of(st.just(bytes(max(0, *ends) if ends else 0)), st.binary(max_size=96)))
    raw = bytearray(len(head).to_bytes(8, "little") + head + data)
    for _ in range(draw(st.sampled_from([0, 0, 1, 2, 3]))):
        what = draw(st.sampled_from(["length", "flip", "cut"]))
        if what == "length":
            raw[:8] = draw(st.sampled_from([0, 1, len(head) - 1, len(head) + 1, 2 ** 40, 2 ** 64 - 1])).to_bytes(8, "little")
        elif what == "flip" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif what == "cut":
            raw = raw[:draw(st.integers(0, len(raw)))]
    return bytes(raw)


def test_fuzz_safetensors_headers(capsys):
    """A weights file may come from anyone: generated and mutated safetensors files either load through a
    scenario's { file, tensor } param or are refused with ScenarioError (naming the file), nothing else."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        (folder / "s.toml").write_text(
            '[scenario]\ntitle = "st"\n[values]\nx = [1.0, 2.0]\n[params]\nW = { file = "w.safetensors", tensor = "W" }\n'
            '[graph]\nE = "sum(W * W)"\n[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 2\n')

        @fuzz_settings(0.25)
        @given(safetensors_files())
        def check(stats, raw):
            (folder / "w.safetensors").write_bytes(raw)
            try:
                load_scenario(folder / "s.toml")
            except ScenarioError as e:
                assert "w.safetensors" in str(e), str(e)         # the message names the file
            exercise(lambda: load_scenario(folder / "s.toml"), stats)

        run_counted(check, capsys, "safetensors files")
