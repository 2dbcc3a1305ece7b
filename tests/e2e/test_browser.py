"""End to end in a browser: the real `gradstep serve`, a real headless Chromium driven by selenium, one page load and
a few keys; the app stepped, as its event log (GRADSTEP_EVENT_LOG) and the screenshots say (the terminal is drawn
on a canvas, so there is no DOM text to read). Skipped, with the reason, where Chromium, its driver, selenium or
textual-serve is missing; `.ci/run` installs them.

GRADSTEP_BROWSER_SHOT=FILE also saves the page after the keys as a PNG (how docs/browser.png is made).
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PATHS = ROOT / "scenarios" / "sum_over_paths.toml"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
MISSING = [what for what, found in (("the chromium package (apt-get install chromium)", CHROMIUM),
                                    ("chromedriver (apt-get install chromium-driver)", DRIVER),
                                    ("selenium (pip install selenium)", importlib.util.find_spec("selenium")),
                                    ("textual-serve (pip install 'gradstep[web]')",
                                     importlib.util.find_spec("textual_serve")))
           if not found]
needs_browser = pytest.mark.skipif(bool(MISSING), reason="needs " + ", ".join(MISSING))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait(condition, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {seconds:g} s waiting for {what}")


@pytest.fixture
def server(tmp_path):
    """`gradstep serve` on a free port of 127.0.0.1, its apps writing their event log to tmp_path."""
    port = free_port()
    log = tmp_path / "events.log"
    env = dict(os.environ, GRADSTEP_EVENT_LOG=str(log))
    proc = subprocess.Popen([sys.executable, "-c", "import sys; from gradstep.tui.launch import main; "
                             "sys.exit(main(sys.argv[1:]))", "serve", str(PATHS), "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True)

    def listening() -> bool:
        with socket.socket() as s:
            return s.connect_ex(("127.0.0.1", port)) == 0
    try:
        wait(lambda: listening() or proc.poll() is not None, 30, "the server to listen")
        assert proc.poll() is None, proc.stdout.read()
        yield f"http://127.0.0.1:{port}", log, proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,860"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


KEYS = {"down": "\ue015", "enter": "\ue007"}     # selenium's Keys.ARROW_DOWN and Keys.ENTER


@pytest.mark.browser
@needs_browser
def test_the_served_app_steps_when_keys_are_pressed_in_chromium(server, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    url, log, proc = server
    browser.get(url)
    wait(lambda: log.exists() and "loaded" in log.read_text(), 60, "the app to start in the page")
    time.sleep(1.0)                       # the first frame reaches the canvas
    before = browser.get_screenshot_as_png()
    keys = ActionChains(browser)
    terminal = browser.find_elements("css selector", ".xterm-helper-textarea, canvas, body")[0]
    keys.click(terminal).perform()
    for key in "nnn":
        ActionChains(browser).send_keys(key).perform()
        time.sleep(0.2)
    wait(lambda: "tick 3 " in log.read_text(), 30, f"three steps in the event log:\n{log.read_text()}")
    time.sleep(0.5)
    after = browser.get_screenshot_as_png()
    assert after != before                # and the picture changed too
    assert proc.poll() is None
    shot = os.environ.get("GRADSTEP_BROWSER_SHOT")
    if shot:                              # the README's picture: forward mode seeded at b, the forward pass done
        for key in ("p", "p", "p", "m", "down", "down", "enter", "f"):
            ActionChains(browser).send_keys(KEYS.get(key, key)).perform()
            time.sleep(0.3)
        time.sleep(3.5)                   # the mode's notification fades
        Path(shot).write_bytes(browser.get_screenshot_as_png())


def test_serve_without_textual_serve_says_how_to_install(tmp_path):
    """The extra is imported only by `serve`: without it, one line and exit 2."""
    code = ("import sys, builtins\nreal = builtins.__import__\n"
            "def fake(name, *a, **k):\n    if name.startswith('textual_serve'): raise ImportError(name)\n"
            "    return real(name, *a, **k)\nbuiltins.__import__ = fake\n"
            "from gradstep.tui.launch import main\nsys.exit(main(['serve', sys.argv[1]]))")
    proc = subprocess.run([sys.executable, "-c", code, str(PATHS)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "gradstep: gradstep serve needs the textual-serve package: pip install 'gradstep[web]'"
