"""The HTML report in a real browser: headless Chromium (Debian's chromium, chromium-driver)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conformance.grid import all_cases
from reports import html
from reports.model import build
from tests.test_reports import document, record

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")

MISSING = "headless Chromium missing: apt-get install chromium chromium-driver (.ci/run does)"
if not (CHROMIUM and DRIVER) and os.environ.get("REQUIRE_BROWSER"):
    raise RuntimeError(MISSING + "; REQUIRE_BROWSER is set, so this may not be skipped")
pytestmark = [pytest.mark.slow, pytest.mark.skipif(not (CHROMIUM and DRIVER), reason=MISSING)]
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium not installed (.[dev])")
By = pytest.importorskip("selenium.webdriver.common.by").By


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1600,1000"):  # fmt: skip
        options.add_argument(argument)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=webdriver.ChromeService(DRIVER), options=options)
    yield driver
    driver.quit()


def open_page(browser, path: Path) -> float:
    """Load the report; returns navigation start to load event end, in seconds."""
    browser.get(path.resolve().as_uri())
    return browser.execute_script(
        "const t = performance.getEntriesByType('navigation')[0]; return t.loadEventEnd / 1000;"
    )


def click_cell(browser, selector: str):
    cell = browser.find_element(By.CSS_SELECTOR, selector)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    panel = browser.find_element(By.ID, "drilldown")
    deadline = time.monotonic() + 5
    while not panel.is_displayed() and time.monotonic() < deadline:
        time.sleep(0.05)
    return panel


def test_the_report_of_a_real_run_drills_down_to_its_cases(browser, tmp_path):
    results, report = tmp_path / "results.json", tmp_path / "report.html"
    command = [sys.executable, "-m", "pytest", "conformance", "-q", "-p", "no:cacheprovider",
               "-n", "2", "--impl", "numpy,torch", "--mode", "LSTM", "--dtype", "float32",
               "--results-json", str(results), "--report-html", str(report)]  # fmt: skip
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert completed.returncode == 0, completed.stdout[-2000:]
    open_page(browser, report)
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#matrix thead th")]
    assert any(h.startswith("torch") for h in headers) and any(
        h.startswith("numpy") for h in headers
    )
    columns = [h.split("\n")[0] for h in headers[2:]]
    torch_column = columns.index("torch")
    row = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "#matrix tbody th")]
    values = row[1::2]
    lstm_row = values.index("LSTM")
    panel = click_cell(browser, f'td[data-cell="{lstm_row}-{torch_column}"]')
    assert panel.is_displayed()
    title = browser.find_element(By.ID, "dd-title").text
    expected = len(all_cases(["torch"], dtypes=("float32",), mode_labels=("LSTM",)))
    assert title.startswith("mode = LSTM · torch") and title.endswith(f"{expected} case(s)")
    rows = panel.find_elements(By.CSS_SELECTOR, "tr")[1:]
    assert len(rows) == expected
    assert "pytest 'conformance/test_checks.py::test_check[forward-LSTM-" in rows[0].text
    assert "worst at" in rows[0].text
    browser.save_screenshot(str(tmp_path / "drilldown.png"))


def full_grid_document() -> dict:
    records = []
    for case in all_cases():
        outcome = "unsupported" if case.proj_size and case.implementation != "torch" else "passed"
        records.append(record(case, outcome, 0.01 if outcome == "passed" else None, "why not"))
    return document(records)


def test_the_full_grid_report_opens_in_under_two_seconds(browser, tmp_path):
    path = tmp_path / "full.html"
    report = build([full_grid_document()])
    assert len(report.records) == len(all_cases())
    path.write_text(html.render(report))
    seconds = open_page(browser, path)
    assert seconds < 2.0, f"the full-grid report took {seconds:.2f} s to load"
    assert len(browser.find_elements(By.CSS_SELECTOR, "td.cell")) == len(report.rows) * len(
        report.columns
    )


def test_a_merged_report_shows_both_runs_and_what_changed(browser, tmp_path):
    cases = all_cases(["torch"], mode_labels=("GRU",))
    before = document([record(c, "passed") for c in cases], "2.13.0")
    after_records = [record(c, "passed") for c in cases]
    after_records[0] = record(cases[0], "failed", 12.0, "differs from the reference in h_n")
    after = document(after_records, "2.14.1")
    path = tmp_path / "merged.html"
    for name, doc in (("before.json", before), ("after.json", after)):
        (tmp_path / name).write_text(json.dumps(doc))
    completed = subprocess.run(
        [sys.executable, "-m", "reports", "build", str(tmp_path / "before.json"),
         str(tmp_path / "after.json"), "-o", str(path)],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    open_page(browser, path)
    headers = " ".join(th.text for th in browser.find_elements(By.CSS_SELECTOR, "#matrix thead th"))
    assert "torch 2.13.0 · cpu" in headers and "torch 2.14.1 · cpu" in headers
    changed = browser.find_elements(By.CSS_SELECTOR, "td.cell.changed")
    assert changed and all(c.get_attribute("data-cell").endswith("-1") for c in changed)
    panel = click_cell(browser, f'td[data-cell="{changed[0].get_attribute("data-cell")}"]')
    assert "differs from the reference in h_n" in panel.text


def test_only_http_links_are_live_in_the_drill_down(browser, tmp_path):
    """A results file's divergence link becomes an <a href> only when it is http(s): a
    javascript: link is text, and clicking it runs nothing."""
    from tests.test_reports import DIVERGENCE

    cases = all_cases(["torch"], mode_labels=("GRU",))[:3]
    links = ["javascript:window.pwned=1", "docs/findings/x.md", "https://example.org/issue/1"]
    records = []
    for case, link in zip(cases, links):
        rec = record(case, "known-divergence", 2.0, "planted")
        rec["divergences"] = [DIVERGENCE | {"link": link}]
        records.append(rec)
    path = tmp_path / "links.html"
    path.write_text(html.render(build([document(records)])))
    open_page(browser, path)
    panel = click_cell(browser, 'td[data-cell="0-0"]')  # check = forward: all three cases
    hrefs = [a.get_attribute("href") for a in panel.find_elements(By.CSS_SELECTOR, "a")]
    assert hrefs == ["https://example.org/issue/1"]
    shown = panel.find_elements(By.CSS_SELECTOR, "span.link")
    assert sorted(s.text for s in shown) == ["docs/findings/x.md", "javascript:window.pwned=1"]
    for span in shown:
        span.click()
    assert browser.execute_script("return window.pwned") is None
