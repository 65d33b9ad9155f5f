"""The report's web page: one self-contained index.html with every table and figure, the protocol and the
commit; in headless Chromium it renders, holds the tables, and a click on a header sorts its table."""

import base64
import io
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from harness.cli import main
from report.page import page_html, write_page

from conftest import ROOT, TINY_MODEL, tiny_suite_dict, write_suite

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Chromium and ChromeDriver on the PATH (Debian: apt-get install chromium chromium-driver; "
    ".ci/run installs them)",
)
# The flags that run Chromium as root in a sandbox with a closed network (.library: machines/python.md)
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--hide-scrollbars", "--window-size=1280,1400"]  # fmt: skip
ELEMENT = "element-6066-11e4-a52e-4f735466cecf"  # the W3C WebDriver key of an element reference
OTHER = {**TINY_MODEL, "name": "Zed", "params": {"kernel_size": 5}}  # sorts last by name, whatever its rank
SYNTHETIC = """# demo: cells as the report writes them

| model | MSE | params |
|-------|-----|--------|
| a | **0.372 ± 0.001** | 64,704 |
| b | pending | – |
| c | <u>0.380 ± 0.002</u> ≈ | 1,000,000 |
| d | -1.2e-05 | 0 |
| e | 0.4 (n=2/3) | 93,954 |
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    """The report of a tiny suite of two DLinear entries, plus a model still pending."""
    folder = tmp_path_factory.mktemp("page")
    store, ran = folder / "runs.sqlite", tiny_suite_dict(models=[dict(TINY_MODEL), OTHER])
    assert main(["run", str(write_suite(folder / "ran.yaml", ran)), "--store", str(store)]) == 0
    bigger = {**ran, "models": [*ran["models"], {**TINY_MODEL, "name": "Later", "seq_len": 48}]}
    suite = write_suite(folder / "suite.yaml", bigger)
    assert main(["report", str(suite), "--store", str(store), "--out", str(folder / "report")]) == 0
    return folder / "report"


def test_the_page_is_one_file_with_every_table_and_figure_the_protocol_and_the_commit(report):
    page = (report / "index.html").read_text()
    assert not re.findall(r'(?:src|href)="(?!data:|#)', page), "the page loads nothing from elsewhere"
    assert "<link" not in page and "<script src" not in page
    tables = sum(text.count("\n|--") for text in (p.read_text() for p in report.glob("*.md")))
    assert page.count("<table>") == tables > 0
    figures = {p.stem for p in (report / "figures").iterdir()}
    assert page.count('src="data:image/svg+xml;base64,') == len(figures) > 0  # one of each: its SVG
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    assert f"at commit <code>{head.stdout.strip()}</code>" in page
    assert "Protocol <code>tiny</code>" in page


def test_past_one_dataset_the_verdict_is_on_the_page_once(tmp_path):
    verdict = (
        "### Overall, protocol `p`: 8 tasks over 2 dataset(s)\n\n| model | skill |\n|---|---|\n| a | 0.2 |\n"
    )
    board = "### A, protocol `p`\n\n| model | 96 MSE |\n|---|---|\n| a | 0.4 |\n"
    (tmp_path / "overall.md").write_text(f"# s: overall\n\n{verdict}")
    (tmp_path / "leaderboard.md").write_text(f"# s: leaderboard\n\n{verdict}\n{board}")
    suite = SimpleNamespace(name="s", protocol="p", path=Path("s.yaml"))
    page = write_page(suite, tmp_path, [tmp_path / "leaderboard.md", tmp_path / "overall.md"]).read_text()
    assert page.count("Overall, protocol") == 1 and page.count("<table>") == 2
    assert page.index('id="overall"') < page.index('id="leaderboard"') < page.index("96 MSE")


class Browser:
    """Headless Chromium through ChromeDriver's W3C WebDriver HTTP API: real clicks and screenshots with
    nothing beyond the standard library (no Selenium, no test hook in the page)."""

    TABLES = (
        "return [...document.querySelectorAll('table')]"
        ".map(t => [...t.rows].map(r => [...r.cells].map(c => c.textContent.trim())))"
    )

    def __init__(self, driver: str, profile: Path):
        self.url = driver
        for _ in range(100):  # ChromeDriver takes a moment to listen
            try:
                if self.call("GET", "/status")["ready"]:
                    break
            except OSError:
                time.sleep(0.1)
        options = {"binary": CHROMIUM, "args": [*FLAGS, f"--user-data-dir={profile}"]}
        capabilities = {"browserName": "chrome", "goog:chromeOptions": options}
        session = self.call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})
        self.url = f"{driver}/session/{session['sessionId']}"

    def call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        with urllib.request.urlopen(
            urllib.request.Request(self.url + path, data, headers, method=method)
        ) as r:
            return json.load(r)["value"]

    def open(self, page: Path) -> None:
        self.call("POST", "/url", {"url": page.as_uri()})

    def tables(self) -> list[list[list[str]]]:
        """Every table in the DOM as rows of cell texts, the header first."""
        return self.call("POST", "/execute/sync", {"script": self.TABLES, "args": []})

    def click_header(self, text: str) -> None:
        xpath = f"(//th[normalize-space()='{text}'])[1]"
        element = self.call("POST", "/element", {"using": "xpath", "value": xpath})[ELEMENT]
        self.call("POST", f"/element/{element}/click", {})

    def screenshot(self) -> bytes:
        return base64.b64decode(self.call("GET", "/screenshot"))


@pytest.fixture
def browser(tmp_path):
    with socket.socket() as s:  # a free port for ChromeDriver
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    driver = subprocess.Popen([CHROMEDRIVER, f"--port={port}"], stdout=subprocess.DEVNULL)
    try:
        browser = Browser(f"http://127.0.0.1:{port}", tmp_path / "profile")
        yield browser
        browser.call("DELETE", "")  # closes Chromium
    finally:
        driver.terminate()
        driver.wait(timeout=30)


def table_with(browser: Browser, header: str) -> list[list[str]]:
    return next(t for t in browser.tables() if header in t[0])


def column(table: list[list[str]], header: str) -> list[str]:
    i = table[0].index(header)
    return [row[i] for row in table[1:]]


def first_number(cell: str) -> float:
    return float(re.match(r"[-+\d.e]+", cell.replace(",", "")).group())


@needs_chromium
def test_chromium_renders_the_page_with_its_tables_and_a_header_click_sorts_them(report, browser, tmp_path):
    browser.open(report / "index.html")
    shot = browser.screenshot()
    (tmp_path / "page.png").write_bytes(shot)
    pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float)
    assert pixels.std() > 20 and (pixels < 128).mean() > 0.01, "the screenshot is blank"
    tables = browser.tables()
    assert len(tables) == (report / "index.html").read_text().count("<table>")
    board = table_with(browser, "24 MSE")
    models = column(board, "model")
    assert set(models) == {"DLinear", "Zed", "Later"}
    assert column(board, "24 MSE")[models.index("Later")] == "pending"

    browser.click_header("model")
    by_name = column(table_with(browser, "24 MSE"), "model")
    assert by_name == sorted(models, key=str.casefold) != models
    browser.click_header("24 MSE")
    cells = column(table_with(browser, "24 MSE"), "24 MSE")
    assert cells[-1] == "pending"  # a pending cell goes last
    values = [first_number(c) for c in cells[:-1]]
    assert values == sorted(values)
    browser.click_header("24 MSE")
    cells = column(table_with(browser, "24 MSE"), "24 MSE")
    assert cells[-1] == "pending" and [first_number(c) for c in cells[:-1]] == sorted(values, reverse=True)


@needs_chromium
def test_a_column_sorts_by_the_number_each_cell_starts_with_marks_and_separators_aside(browser, tmp_path):
    page = tmp_path / "index.html"
    page.write_text(page_html("demo", "", [("demo", SYNTHETIC)], []))
    browser.open(page)
    browser.click_header("MSE")
    assert column(table_with(browser, "MSE"), "model") == ["d", "a", "c", "e", "b"]
    browser.click_header("MSE")
    assert column(table_with(browser, "MSE"), "model") == ["e", "c", "a", "d", "b"]
    browser.click_header("params")  # 64,704 is 64704, not 64; "–" goes last
    assert column(table_with(browser, "params"), "model") == ["d", "a", "e", "c", "b"]
