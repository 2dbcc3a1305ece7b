"""Hostile scenarios: nothing executes, and nothing is read or written outside the scenario's folder.

Three independent lines of proof: a canary file that hostile expressions try to create, audit hooks
(sys.addaudithook) in a fresh process that see every exec, import, open and subprocess while
hostile files load, and a scan of the source for eval/exec.
"""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gradstep.engine import ScenarioError, Stepper, load_scenario
from gradstep.engine import limits

ROOT = Path(__file__).resolve().parents[2]
HEAD = '[scenario]\ntitle = "t"\n[values]\nx = [1.0, 2.0]\n[params]\nw = [0.5, -0.5]\n'
TRAIN = '[train]\nloss = "E"\nlearning_rate = 0.1\nsteps = 2\n'

# Expressions that would run code, read files or reach the network if they were ever evaluated.
HOSTILE_EXPRESSIONS = [
    "__import__('os').system('touch CANARY')",
    "__import__('subprocess').call(['touch', 'CANARY'])",
    "exec(\"open('CANARY', 'w')\")",
    "eval(\"open('CANARY', 'w')\")",
    "open('CANARY', 'w')",
    "compile('1', 'CANARY', 'exec')",
    "getattr(x, '__class__')",
    "x.__class__.__bases__[0].__subclasses__()",
    "().__class__.__base__.__subclasses__()",
    "x.__class__",
    "w.T.__class__",
    "sum.__globals__",
    "__builtins__",
    "__builtins__.open('CANARY', 'w')",
    "globals()['__builtins__']",
    "vars()",
    "breakpoint()",
    "(lambda: __import__('os').system('touch CANARY'))()",
    "[__import__('os').system('touch CANARY') for _ in x]",
    "{k: 1 for k in x}",
    "(y := __import__('os'))",
    "f\"{__import__('os').system('touch CANARY')}\"",
    "sum(x) if __import__('os').system('touch CANARY') else 0",
    "x[__import__('os').system('touch CANARY')]",
    "sum(*x)",
    "sum(x, **{'axis': 0})",
    "sum(x, axis=__import__('os').system('touch CANARY'))",
    "__import__('socket').create_connection(('example.com', 80))",
    "relu(x).__class__",
    "'CANARY'",
    "b'CANARY'",
    "...",
    "x and __import__('os')",
    "not x",
    "await x",
    "x if 1 else x",
    "{x}",
    "(x, w)",
]


def graph_scenario(expr: str) -> str:
    return HEAD + "[graph]\nE = " + json.dumps(expr) + "\n" + TRAIN


# Hostile text in every other place a scenario has text: it is data, never code.
HOSTILE_ELSEWHERE = [
    '[scenario]\ntitle = "__import__(\'os\').system(\'touch CANARY\')"\ndescription = "{x.__class__}"\n'
    '[values]\nx = 1.0\n[graph]\nE = "x * 2"\n[train]\nloss = "E"\n',
    HEAD + '[graph]\n"__import__(\'os\')" = "sum(x)"\nE = "sum(x)"\n' + TRAIN,
    HEAD + '[graph]\nE = "sum(w * x)"\n[train]\nloss = "__import__(\'os\').system(\'touch CANARY\')"\n',
    '[scenario]\ntitle = "t"\n[values]\n"os.system" = 1.0\n[graph]\nE = "x"\n[train]\nloss = "E"\n',
    '[scenario]\ntitle = "t"\n[params]\nw = { init = "__import__(\'os\')", shape = [2] }\n'
    '[graph]\nE = "sum(w)"\n' + TRAIN,
    '[scenario]\ntitle = "t"\n[data]\nfile = "__import__(\'os\').system(\'touch CANARY\')"\nx = "a"\n'
    '[graph]\nE = "sum(x)"\n' + TRAIN,
    '[scenario]\ntitle = "t"\n[data]\n__class__ = [1.0, 2.0]\n[graph]\nE = "sum(__class__)"\n' + TRAIN,
]


@pytest.mark.parametrize("expr", HOSTILE_EXPRESSIONS)
def test_hostile_expression_is_refused_and_runs_nothing(expr, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.toml"
    path.write_text(graph_scenario(expr))
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.table == "graph" and info.value.key == "E"
    assert not (tmp_path / "CANARY").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.toml"]


@pytest.mark.parametrize("text", HOSTILE_ELSEWHERE)
def test_hostile_text_elsewhere_runs_nothing(text, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.toml"
    path.write_text(text)
    try:
        s = load_scenario(path)
    except ScenarioError:
        pass
    else:           # hostile titles are only text: the scenario loads and runs like any other
        st = Stepper(s)
        st.run_iteration()
        assert s.title.startswith("__import__")
    assert not (tmp_path / "CANARY").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["evil.toml"]


# ----------------------------------------------------------------------------- CSV paths
CSV = "a,b\n1,2\n3,4\n"


def data_scenario(file: str) -> str:
    return ('[scenario]\ntitle = "t"\n[data]\nfile = ' + json.dumps(file) + '\nx = ["a", "b"]\n'
            '[graph]\nE = "sum(x)"\n[train]\nloss = "E"\n')


@pytest.fixture
def layout(tmp_path):
    """A scenario folder 'lesson' beside a folder 'secret' it must never read."""
    lesson = tmp_path / "lesson"
    secret = tmp_path / "secret"
    lesson.mkdir()
    secret.mkdir()
    (secret / "s.csv").write_text(CSV)
    (lesson / "ok.csv").write_text(CSV)
    (lesson / "sub").mkdir()
    (lesson / "sub" / "in.csv").write_text(CSV)
    return lesson, secret


def load_with_file(lesson: Path, file: str):
    path = lesson / "s.toml"
    path.write_text(data_scenario(file))
    return load_scenario(path)


def test_plain_csv_beside_the_scenario_loads(layout):
    lesson, _ = layout
    assert load_with_file(lesson, "ok.csv").data.columns["x"].tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert load_with_file(lesson, "sub/in.csv").data.rows == 2
    assert load_with_file(lesson, "./ok.csv").data.rows == 2


@pytest.mark.parametrize("file, phrase", [
    ("../secret/s.csv", "no '..'"),
    ("sub/../../secret/s.csv", "no '..'"),
    ("..", "no '..'"),
    ("/etc/passwd", "no absolute paths"),
    ("/dev/zero", "no absolute paths"),
    ("~/s.csv", "plain name"),
    ("ok.csv\x00.txt", "plain name"),
    ("sub\\..\\..\\secret\\s.csv", "plain name"),
    ("", "must be the name of a CSV file"),
    (".", "names no file"),
])
def test_csv_path_escapes_are_refused(layout, file, phrase):
    lesson, _ = layout
    with pytest.raises(ScenarioError, match=phrase) as info:
        load_with_file(lesson, file)
    assert (info.value.table, info.value.key) == ("data", "file")


def test_symlink_to_a_file_outside(layout):
    lesson, secret = layout
    (lesson / "link.csv").symlink_to(secret / "s.csv")
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "link.csv")


def test_symlink_to_a_file_inside_is_still_refused(layout):
    """Data files must be plain files: a link is refused even when it points inside."""
    lesson, _ = layout
    (lesson / "alias.csv").symlink_to(lesson / "ok.csv")
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "alias.csv")


def test_symlinked_folder_outside(layout):
    lesson, secret = layout
    (lesson / "escape").symlink_to(secret, target_is_directory=True)
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "escape/s.csv")


def test_symlinked_folder_inside(layout):
    lesson, _ = layout
    (lesson / "loop").symlink_to(lesson, target_is_directory=True)
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "loop/ok.csv")


def test_symlink_to_dev_zero(layout):
    lesson, _ = layout
    (lesson / "zero.csv").symlink_to("/dev/zero")
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "zero.csv")


def test_dangling_symlink(layout):
    lesson, _ = layout
    (lesson / "gone.csv").symlink_to(lesson / "nothing.csv")
    with pytest.raises(ScenarioError, match="symlink"):
        load_with_file(lesson, "gone.csv")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_as_csv_does_not_hang(layout):
    lesson, _ = layout
    os.mkfifo(lesson / "pipe.csv")
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_with_file(lesson, "pipe.csv")


def test_folder_as_csv(layout):
    lesson, _ = layout
    with pytest.raises(ScenarioError, match="not a regular file"):
        load_with_file(lesson, "sub")


def test_huge_csv_is_refused_before_reading(layout):
    lesson, _ = layout
    big = lesson / "big.csv"
    with open(big, "wb") as f:          # sparse: costs no disk, reports a huge size
        f.truncate(limits.MAX_CSV_BYTES + 1)
    with pytest.raises(ScenarioError, match="MAX_CSV_BYTES"):
        load_with_file(lesson, "big.csv")
    with open(big, "wb") as f:
        f.truncate(50 * 2**30)
    with pytest.raises(ScenarioError, match="MAX_CSV_BYTES"):
        load_with_file(lesson, "big.csv")


def test_unreadable_csv(layout):
    lesson, _ = layout
    if os.geteuid() == 0:
        pytest.skip("root reads every file")
    (lesson / "locked.csv").write_text(CSV)
    os.chmod(lesson / "locked.csv", 0)
    with pytest.raises(ScenarioError, match="cannot read"):
        load_with_file(lesson, "locked.csv")


# ----------------------------------------------------------------------------- the scenario file itself
def test_huge_scenario_file_is_refused(tmp_path):
    big = tmp_path / "big.toml"
    with open(big, "wb") as f:
        f.truncate(limits.MAX_FILE_BYTES + 1)
    with pytest.raises(ScenarioError, match="MAX_FILE_BYTES"):
        load_scenario(big)


@pytest.mark.parametrize("target", ["/dev/zero", "/dev/urandom"])
def test_device_as_scenario(tmp_path, target):
    if not Path(target).exists():
        pytest.skip(f"no {target}")
    with pytest.raises(ScenarioError, match="not a file"):
        load_scenario(target)
    (tmp_path / "dev.toml").symlink_to(target)
    with pytest.raises(ScenarioError, match="not a file"):
        load_scenario(tmp_path / "dev.toml")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_as_scenario_does_not_hang(tmp_path):
    os.mkfifo(tmp_path / "pipe.toml")
    with pytest.raises(ScenarioError, match="not a file"):
        load_scenario(tmp_path / "pipe.toml")


# ----------------------------------------------------------------------------- audit hooks
AUDIT_SCRIPT = textwrap.dedent(r"""
    import json, os, sys
    from gradstep import engine
    from gradstep.scenarios import bundled_dir
    # Warm up lazy imports (numpy.random) on a good bundled scenario before watching.
    engine.Stepper(engine.load_scenario(os.path.join(bundled_dir(), "two_layer.toml"))).run_iteration()
    folder = os.path.realpath(sys.argv[1])
    seen = []
    WATCH = ("exec", "compile", "import", "open", "subprocess.Popen", "os.system", "os.exec", "os.spawn",
             "os.posix_spawn", "os.fork", "os.forkpty", "pty.spawn", "socket.", "ctypes.", "os.remove",
             "os.rename", "os.mkdir", "os.rmdir", "os.symlink", "os.link", "os.chmod", "os.truncate",
             "shutil.", "urllib.", "http.", "webbrowser.", "builtins.input", "pdb", "code.",
             "sys._getframe", "object.__getattr__", "marshal.", "pickle.")
    def hook(event, args):
        if event.startswith(WATCH):
            seen.append([event, [repr(a)[:200] for a in args],
                         os.fspath(args[0]) if event == "open" and isinstance(args[0], (str, bytes, os.PathLike))
                         else None, args[2] if event == "open" and len(args) > 2 else None])
    sys.addaudithook(hook)
    results = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".toml"):
            continue
        try:
            s = engine.load_scenario(os.path.join(folder, name))
            st = engine.Stepper(s)
            for _ in range(20):
                st.step()
            results[name] = "loaded"
        except engine.ScenarioError as e:
            results[name] = "refused"
    sys.stdout.write(json.dumps({"results": results, "events": seen}))
""")


def test_audit_hooks_see_no_exec_import_or_outside_open(tmp_path):
    lesson = tmp_path / "lesson"
    secret = tmp_path / "secret"
    lesson.mkdir()
    secret.mkdir()
    (secret / "s.csv").write_text(CSV)
    (lesson / "ok.csv").write_text(CSV)
    (lesson / "link.csv").symlink_to(secret / "s.csv")
    (lesson / "escape").symlink_to(secret, target_is_directory=True)
    (lesson / "zero.csv").symlink_to("/dev/zero")
    if hasattr(os, "mkfifo"):
        os.mkfifo(lesson / "pipe.csv")
    files = {}
    for i, expr in enumerate(HOSTILE_EXPRESSIONS):
        files[f"expr{i:02}.toml"] = graph_scenario(expr)
    for i, text in enumerate(HOSTILE_ELSEWHERE):
        files[f"else{i:02}.toml"] = text
    for i, f in enumerate(["ok.csv", "../secret/s.csv", str(secret / "s.csv"), "link.csv", "escape/s.csv",
                           "zero.csv", "pipe.csv", "/dev/zero", "/etc/passwd", "~/.bashrc"]):
        files[f"csv{i:02}.toml"] = data_scenario(f)
    for name, text in files.items():
        (lesson / name).write_text(text)
    proc = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT, str(lesson)], capture_output=True, text=True,
                          cwd=lesson, timeout=100, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    results, events = report["results"], report["events"]
    assert len(results) == len(files)
    loaded = sorted(k for k, v in results.items() if v == "loaded")
    # Only the plain CSV and the scenarios whose hostile text is mere data (title, quoted key) load.
    assert "csv00.toml" in loaded
    assert all(results[f"csv{i:02}.toml"] == "refused" for i in range(1, 10))
    assert all(results[f"expr{i:02}.toml"] == "refused" for i in range(len(HOSTILE_EXPRESSIONS)))
    folder = os.path.realpath(lesson)
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
    for event, args, path, flags in events:
        assert event not in ("exec", "import"), (event, args)
        assert not event.startswith(("subprocess", "os.system", "os.exec", "os.spawn", "os.posix_spawn",
                                     "os.fork", "socket", "ctypes", "os.remove", "os.rename", "os.mkdir",
                                     "os.symlink", "shutil", "urllib", "http", "webbrowser")), (event, args)
        if event == "compile":
            # ast.parse compiles to a syntax tree only; with no 'exec' event nothing ever ran.
            assert args[1] == "'<unknown>'", args
        if event == "open":
            assert path is not None, args
            # Where the name points without following links; a link may only be opened with
            # O_NOFOLLOW, which refuses it instead of going where it points.
            full = os.path.normpath(os.path.join(folder, path))
            assert full == folder or full.startswith(folder + os.sep), (path, full)
            if os.path.islink(full):
                assert flags is not None and flags & os.O_NOFOLLOW, (path, flags)
            assert not (flags or 0) & write_flags, (path, flags)
    # It did watch: every load opened its own file, and parsing was seen.
    opened = {os.path.basename(p) for e, _, p, _ in events if e == "open" and p}
    assert set(files) <= opened
    assert any(e == "compile" for e, *_ in events)
    assert sorted(p.name for p in secret.iterdir()) == ["s.csv"]
    assert not (lesson / "CANARY").exists()


# ----------------------------------------------------------------------------- the source
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__", "execfile", "input", "breakpoint"}
FORBIDDEN_MODULES = {"subprocess", "pickle", "marshal", "ctypes", "socket", "shelve", "importlib", "code",
                     "urllib", "http"}


def _python_files():
    for folder in ("engine", "tui"):
        yield from sorted((ROOT / folder).rglob("*.py"))


def test_no_eval_or_exec_in_engine_and_tui():
    offenders = []
    files = list(_python_files())
    assert any(f.name == "expr.py" for f in files)
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.id if isinstance(f, ast.Name) else (f.attr if isinstance(f, ast.Attribute)
                                                              and isinstance(f.value, ast.Name)
                                                              and f.value.id == "builtins" else None)
                if name in FORBIDDEN_CALLS:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: {name}()")
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for m in mods:
                    if m.split(".")[0] in FORBIDDEN_MODULES and path.parts[-2] == "engine":
                        offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}: import {m}")
    assert offenders == []


def test_the_source_scan_would_notice_eval():
    """The scan above is not vacuous: it flags a planted eval."""
    tree = ast.parse("x = eval('1')")
    calls = [n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)]
    assert "eval" in calls and set(calls) & FORBIDDEN_CALLS
