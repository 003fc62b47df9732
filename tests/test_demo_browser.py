"""``grit demo`` in a real browser: the real CLI in a subprocess on a free loopback port with the shipped base,
driven by headless Chromium through Playwright.

Chromium comes from the system (Debian: ``apt-get install chromium chromium-driver``; or set ``GRIT_CHROMIUM``);
Playwright downloads no browser. Without Chromium the test is skipped, unless ``GRIT_REQUIRE_BROWSER=1`` (CI), where
it fails instead. ``GRIT_DEMO_SCREENSHOT=PATH`` saves the page's screenshot there (default: the test's tmp folder).
"""

import os
import random
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from PIL import Image

import grit
from grit.boxes import iou
from grit.data.shapes import WorldConfig
from grit.data.shapes.questions import make_question
from grit.pretrain.tasks import GROUNDING_TEMPLATE

pytestmark = pytest.mark.browser

# Chromium's background services call out to the network; the closed network refuses them and pages stall.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
QUESTION = GROUNDING_TEMPLATE.format(what="shapes")  # the shipped base writes boxes for this one (plain prompt)
MAX_NEW_TOKENS = 160
START_SECONDS = 180
ANSWER_MS = 120_000
WATCH_BOXES = """() => {
    window.boxCounts = [];
    const chain = document.querySelector('#main-chain');
    new MutationObserver(() => {
        const n = chain.querySelectorAll('mark.box').length;
        if (window.boxCounts[window.boxCounts.length - 1] !== n) window.boxCounts.push(n);
    }).observe(chain, {subtree: true, childList: true, characterData: true});
}"""


def _unavailable(reason: str):
    if os.environ.get("GRIT_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason} (GRIT_REQUIRE_BROWSER=1)")
    pytest.skip(reason)


def _chromium() -> str:
    for name in (os.environ.get("GRIT_CHROMIUM"), "chromium", "chromium-browser"):
        path = shutil.which(name) if name else None
        if path:
            return path
    _unavailable("no Chromium found: apt-get install chromium chromium-driver (or set GRIT_CHROMIUM) to run it")


@pytest.fixture(scope="module")
def browser():
    chromium = _chromium()
    for module in ("playwright", "gradio"):
        try:
            __import__(module)
        except ImportError:
            _unavailable(f"{module} is not installed (pip install -e '.[dev]')")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, process: subprocess.Popen, log: Path) -> None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy
    deadline = time.monotonic() + START_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"grit demo exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with opener.open(url, timeout=5) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"grit demo did not serve {url} within {START_SECONDS} s:\n{log.read_text()[-3000:]}")


@pytest.fixture(scope="module")
def base_path():
    from grit.quickstart import shipped_base

    return shipped_base()


@pytest.fixture(scope="module")
def server(browser, base_path, tmp_path_factory):
    """``python -m grit demo`` (the console script's ``main``) serving the shipped base; yields (url, process, its
    temporary folder)."""
    port, log, temp = _free_port(), tmp_path_factory.mktemp("demo") / "server.log", tmp_path_factory.mktemp("temp")
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join([str(Path(grit.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
        TMPDIR=str(temp),  # to see what the demo leaves behind
    )
    env.pop("GRADIO_TEMP_DIR", None)
    command = [sys.executable, "-m", "grit", "demo", "--model", str(base_path), "--port", str(port)]
    with log.open("w") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_until_serving(url, process, log)
        yield url, process, temp
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()


def _table(page, panel: str = "main") -> list[list[str]]:
    """The boxes table as shown: gradio renders it as an ARIA grid of rows and cells."""
    return page.evaluate(
        """(id) => Array.from(document.querySelectorAll(`#${id}-boxes [role=row][data-index]`)).map(
            row => Array.from(row.querySelectorAll('[role=gridcell]')).map(cell => cell.textContent.trim()))""",
        panel,
    )


def _wait_for_status(page, *texts: str) -> None:
    """Wait until the status line holds every one of ``texts``."""
    page.wait_for_function(
        "(texts) => texts.every(t => document.querySelector('#status').innerText.includes(t))",
        arg=list(texts),
        timeout=ANSWER_MS,
    )


def _upload(page, path: Path) -> None:
    clear = page.locator("#image button[aria-label=Clear]")
    if clear.count():
        clear.click()
    page.locator("#image input[type=file]").set_input_files(str(path))


def _numbers(cell: str) -> list[float]:
    return [float(v) for v in cell.strip("[]").split(",")] if cell else []


def test_demo_streams_boxes_into_the_page(server, browser, tmp_path):
    url, process, temp = server
    scene = make_question(random.Random(5), WorldConfig(min_objects=3), "counting", 2).scene  # 4 shapes, 4 labels
    scene.render().resize((224, 224), Image.NEAREST).save(tmp_path / "scene.png")  # the model sees it at 112 px
    (tmp_path / "notes.txt").write_text("this is not an image")

    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(ANSWER_MS)  # 2 busy cores make a page load or a click slow, not wrong
    left_loopback = []
    page.on("request", lambda r: None if r.url.startswith(("data:", "blob:", url)) else left_loopback.append(r.url))
    page.goto(url)
    page.wait_for_selector("#ask")

    _upload(page, tmp_path / "scene.png")
    _wait_for_status(page, "the model sees it resized to 112x112")
    page.locator("#question textarea").fill(QUESTION)
    page.locator("#prompt-kind input").click()
    page.get_by_role("option", name="plain").click()
    before = page.locator("#main-drawn img").screenshot()
    page.evaluate(WATCH_BOXES)
    page.locator("#ask").click()
    _wait_for_status(page, "Done (plain prompt)")

    rows = _table(page)
    assert len(rows) >= 2, rows  # the shipped base grounds every shape of this scene (exactly, as it happens)
    truth = {o.label: [2 * v for v in o.box] for o in scene.objects}  # original pixels of the 224 px upload
    for number, row in enumerate(rows, 1):
        model_frame, original = _numbers(row[3]), _numbers(row[4])
        assert row[0] == str(number) and row[5] == "ok"
        assert original == pytest.approx([2 * v for v in model_frame], abs=0.05)  # 112 px frame -> 224 px image
        assert row[2] in truth and iou(original, truth[row[2]]) >= 0.5, (row, truth)
    assert page.locator("#main-chain mark.box").count() == len(rows)
    seen = page.evaluate("window.boxCounts")  # boxes in the chain at each change of the page while it streamed
    assert seen == sorted(seen) and set(range(1, len(rows) + 1)) <= set(seen), seen  # one at a time, as written
    assert page.locator("#main-drawn img").screenshot() != before  # the boxes were drawn
    page.screenshot(path=os.environ.get("GRIT_DEMO_SCREENSHOT") or str(tmp_path / "demo.png"), full_page=True)

    _upload(page, tmp_path / "notes.txt")
    _wait_for_status(page, "Cannot use this file")
    assert "notes.txt cannot be read" in page.locator("#status").inner_text()
    page.locator("#ask").click()
    _wait_for_status(page, "Cannot ask")
    _upload(page, tmp_path / "scene.png")  # the server still serves: the next upload is read as usual
    _wait_for_status(page, "the model sees it resized to 112x112")
    page.locator("#question textarea").fill("  ")
    page.locator("#ask").click()
    _wait_for_status(page, "Type a question")

    page.locator("#examples button[aria-label='Thumbnail 2 of 5']").click()  # a grounded-prompt example
    _wait_for_status(page, "Image: 112x112 px")
    page.locator("#compare input").check()
    page.locator("#ask").click()
    _wait_for_status(page, "Done (grounded prompt)", "Done (direct prompt)")  # the final line sums up both
    assert page.locator("#main-title").inner_text() == "grounded prompt"
    assert page.locator("#compare-title").inner_text() == "direct prompt"
    assert page.locator("#compare-answer textarea").input_value().strip() in ("yes", "no")
    assert process.poll() is None
    assert left_loopback == []  # no font, analytics or CDN request left the machine
    page.close()

    assert list(temp.glob("grit-demo-*/uploads/*"))  # gradio's copies of the uploads sit in the demo's own folder
    process.terminate()  # a service manager's stop (SIGTERM): the server closes as on Ctrl+C
    assert process.wait(timeout=60) == 0
    assert list(temp.iterdir()) == []  # the example images and the uploads went with it
