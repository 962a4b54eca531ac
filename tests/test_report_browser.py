"""The HTML report in a real browser: headless Chromium (Debian's chromium, chromium-driver)."""

from __future__ import annotations

import json
import os
import re
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
Keys = pytest.importorskip("selenium.webdriver.common.keys").Keys


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


def eventually(condition, seconds: float = 5):
    """condition()'s first truthy value within seconds, else its last value.

    Some of the page's work runs in a later task than what causes it (a <details>'s toggle, a
    dialog's close and a link's hashchange events are queued, the clipboard answers through a
    promise, a download is written by the browser), so a check straight after can race it."""
    deadline = time.monotonic() + seconds
    while not (value := condition()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return value


def click_cell(browser, selector: str):
    cell = browser.find_element(By.CSS_SELECTOR, selector)
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", cell)
    cell.click()
    panel = browser.find_element(By.ID, "drilldown")
    eventually(panel.is_displayed)
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
    assert any(h.startswith("torch") for h in headers)
    assert not any(h.startswith("numpy") for h in headers)  # the reference is no result
    assert (
        "numpy (the reference, compared with itself)"
        in browser.find_element(By.ID, "reference").text
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
    for group in panel.find_elements(By.CSS_SELECTOR, "details:not([open]) > summary"):
        group.click()  # open every group of cases
    rows = [
        tr
        for tr in panel.find_elements(By.CSS_SELECTOR, "tr")
        if tr.find_elements(By.TAG_NAME, "td")
    ]
    assert len(rows) == expected
    assert "pytest 'conformance/test_checks.py::test_check[" in rows[0].text
    assert "-LSTM-" in rows[0].text
    assert re.search(r"\w+: [\d.e+-]+ / [\d.e+-]+ / [\d.e+-]+×", rows[0].text)  # worst tensor
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
    assert len(report.records) + len(report.reference) == len(all_cases())
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
    for group in panel.find_elements(By.CSS_SELECTOR, "details:not([open]) > summary"):
        group.click()  # one group per reason: open them all
    hrefs = [a.get_attribute("href") for a in panel.find_elements(By.CSS_SELECTOR, "a")]
    assert hrefs == ["https://example.org/issue/1"]
    shown = panel.find_elements(By.CSS_SELECTOR, "span.link")
    assert sorted(s.text.strip() for s in shown) == [
        "docs/findings/x.md",
        "javascript:window.pwned=1",
    ]
    for span in shown:
        span.click()
    assert browser.execute_script("return window.pwned") is None


# --- issue 14: the picker, the drill-down panel, Esc, the permalink, copy buttons ---


def keras_and_torch(tmp_path) -> Path:
    from tests.test_reports_verdicts import keras_document

    doc = keras_document()
    doc["records"] += [record(c, "passed", 0.01) for c in all_cases(["torch"], checks=["forward"])]
    cases = all_cases(["torch"], checks=["forward"], mode_labels=("GRU",))
    doc["records"][-1] = record(cases[-1], "known-divergence", 4.0e5, "planted divergence")
    path = tmp_path / "r.json"
    path.write_text(json.dumps(doc))
    return path


def build_page(results: Path, page: Path) -> None:
    command = [sys.executable, "-m", "reports", "build", str(results), "-o", str(page)]
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    assert completed.returncode == 0, completed.stderr


def query(results: Path, *terms: str) -> list[str]:
    completed = subprocess.run([sys.executable, "-m", "reports", "query", str(results), *terms],
                               cwd=ROOT, capture_output=True, text=True)  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    return [line for line in completed.stdout.splitlines() if not line.startswith("numpy")]


def choose(browser, settings: dict[str, str]) -> list[str]:
    from selenium.webdriver.support.ui import Select

    browser.find_element(By.CSS_SELECTOR, "#picker button[type=reset]").click()
    for key, value in settings.items():
        Select(
            browser.find_element(By.CSS_SELECTOR, f'#picker select[name="{key}"]')
        ).select_by_value(value)
    return picked(browser)


def picked(browser) -> list[str]:
    """The cases the picker lists, without their status glyphs."""
    result = browser.find_element(By.ID, "picker-result")
    return [li.text.lstrip("✓◐∅≈✗!‼⌛· ").strip() for li in result.find_elements(By.TAG_NAME, "li")]


@pytest.mark.parametrize(
    "settings",
    [
        {"mode": "LSTM", "num_layers": "2", "bidirectional": "true", "proj_size": "8"},
        {"mode": "GRU", "bias": "true", "dtype": "float32"},
        {"mode": "LSTM", "bias": "false"},
    ],
)
def test_the_picker_answers_as_reports_query_does(browser, tmp_path, settings):
    results = keras_and_torch(tmp_path)
    build_page(results, tmp_path / "r.html")
    open_page(browser, tmp_path / "r.html")
    shown = choose(browser, settings)
    assert shown == query(results, *(f"{k}={v}" for k, v in settings.items()))
    assert shown[0].startswith("keras: ")


def test_the_drill_down_is_a_panel_that_esc_closes_and_a_permalink_reopens(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    open_page(browser, page)
    report = build([json.loads(results.read_text())])
    lstm = report.rows.index(("mode", "LSTM"))
    panel = click_cell(browser, f'td[data-cell="{lstm}-0"]')  # keras LSTM: partial
    assert browser.execute_script("return location.hash") == f"#cell-{lstm}-0"
    matrix = browser.find_element(By.ID, "matrix")
    assert matrix.is_displayed() and not browser.execute_script(
        "return document.getElementById('drilldown').matches(':modal')"
    )  # the matrix stays usable
    # one group per status and reason, most severe first: unsupported after pass; each reason once
    summaries = [s.text for s in panel.find_elements(By.CSS_SELECTOR, "details > summary")]
    assert [s.split(" · ")[0] for s in summaries] == ["✓ pass", "∅ unsupported"]
    assert "96 case(s) · proj_size" in summaries[1]
    assert panel.text.count("no output projection") == 1  # 96 cases, one reason: said once
    same = panel.find_element(By.CSS_SELECTOR, ".same").text
    assert "mode=LSTM" in same and "seq_len=7" in same  # constant keys are said once
    header = panel.find_element(By.CSS_SELECTOR, "details[open] th").text
    assert "mode" not in header and "proj_size" not in header  # only keys that vary in the group
    browser.find_element(By.TAG_NAME, "body").send_keys(Keys.ESCAPE)
    assert not panel.is_displayed()
    # the dialog's close event, which clears the link, is queued
    assert eventually(lambda: browser.execute_script("return location.hash") == "")
    # the permalink opens the same view (on the hashchange event, queued too)
    browser.get(page.resolve().as_uri() + f"#cell-{lstm}-0")
    panel = browser.find_element(By.ID, "drilldown")
    assert eventually(panel.is_displayed) and "mode = LSTM · keras" in panel.text


def test_a_known_divergence_is_sorted_first_with_its_size_repro_and_declaration(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    open_page(browser, page)
    report = build([json.loads(results.read_text())])
    gru = report.rows.index(("mode", "GRU"))
    cell = browser.find_element(By.CSS_SELECTOR, f'td[data-cell="{gru}-1"]')
    assert "≈ 4e+05× tol" in cell.text  # the divergence's size in the cell
    panel = click_cell(browser, f'td[data-cell="{gru}-1"]')
    first = panel.find_element(By.CSS_SELECTOR, "details")
    assert first.get_attribute("open") and "known divergence · 1 case(s)" in first.text
    assert "declared in conformance/divergences.py" in first.text
    copy = first.find_element(By.CSS_SELECTOR, "td.commands button.copy")
    command = copy.find_element(By.XPATH, "preceding-sibling::code").text
    assert command.startswith("pytest 'conformance/test_checks.py::test_check[forward-GRU-")
    copy.click()
    assert browser.execute_script("return getSelection().toString()") == command
    # the clipboard answers through a promise, in a later task
    assert eventually(lambda: copy.text in ("copied", "selected: press Ctrl+C"))


def test_find_lists_matching_cases_with_a_permalink_and_exports_them_as_csv(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    open_page(browser, page)
    browser.find_element(By.ID, "find").send_keys("GRU L3 -bi- batch_first nobias zeros torch\n")
    panel = browser.find_element(By.ID, "drilldown")
    assert panel.is_displayed()
    title = browser.find_element(By.ID, "dd-title").text
    assert title.endswith("— 2 case(s)")  # float64 and float32
    assert browser.execute_script("return location.hash").startswith("#find=GRU%20L3%20-bi-")
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(tmp_path)}
    )
    browser.find_element(By.ID, "dd-csv").click()
    csv_file = tmp_path / "cases.csv"
    eventually(csv_file.exists, seconds=10)
    lines = csv_file.read_text().splitlines()
    assert lines[0] == "case_id,implementation,status,worst_x_tolerance,reason,link,rerun,repro"
    assert len(lines) == 3 and all(
        "-GRU-L3-bi-batch_first-nobias-zeros-torch-" in x for x in lines[1:]
    )
    browser.get(page.resolve().as_uri() + "#find=proj8%20keras")  # the permalink finds again
    assert eventually(lambda: "— 96 case(s)" in browser.find_element(By.ID, "dd-title").text)


def test_dark_mode_and_print_styles_apply(browser, tmp_path):
    page = tmp_path / "r.html"
    build_page(keras_and_torch(tmp_path), page)
    background = "return getComputedStyle(document.body).backgroundColor"
    try:
        dark = [{"name": "prefers-color-scheme", "value": "dark"}]
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"features": dark})
        open_page(browser, page)
        assert browser.execute_script(background) == "rgb(24, 26, 27)"
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "print", "features": []})
        assert not browser.find_element(By.ID, "picker").is_displayed()
        assert browser.find_element(By.ID, "matrix").is_displayed()
    finally:
        browser.execute_cdp_cmd("Emulation.setEmulatedMedia", {"media": "", "features": []})


def test_a_picked_configuration_is_a_permalink(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    open_page(browser, page)
    choose(browser, {"mode": "LSTM", "proj_size": "8"})
    assert browser.execute_script("return location.hash") == "#pick:mode=LSTM&proj_size=8"
    browser.get(page.resolve().as_uri() + "#pick:mode=GRU&bias=true")  # read on hashchange
    expected = query(results, "mode=GRU", "bias=true")
    eventually(lambda: picked(browser) == expected)
    assert picked(browser) == expected


def test_a_link_s_spellings_are_read_as_query_reads_them_and_the_rest_is_said(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    browser.get(page.resolve().as_uri() + "#pick:mode=gru&bias=yes&layers=2")
    assert picked(browser) == query(results, "mode=gru", "bias=yes", "layers=2")  # a new page
    assert browser.find_element(By.ID, "picker-ignored").text == ""
    browser.get(page.resolve().as_uri() + "#pick:mode=GRU&bias=maybe&colour=red")  # hashchange
    note = eventually(lambda: browser.find_element(By.ID, "picker-ignored").text)
    assert "bias=maybe" in note and "colour=red" in note  # not silently a broader question


def test_a_malformed_link_leaves_the_page_working(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    page = tmp_path / "r.html"
    build_page(results, page)
    browser.get(page.resolve().as_uri() + "#find=%E0%A4%A")
    browser.find_element(By.CSS_SELECTOR, "#heatmap-section summary").click()
    # drawn: the script went on past the bad link (drawing waits for the queued toggle event)
    assert eventually(lambda: browser.find_elements(By.CSS_SELECTOR, "#heatmap td"))


def test_settings_that_never_occur_together_are_said_so(browser, tmp_path):
    results = keras_and_torch(tmp_path)
    build_page(results, tmp_path / "r.html")
    open_page(browser, tmp_path / "r.html")
    shown = choose(browser, {"mode": "RNN_RELU", "nonlinearity": "tanh"})
    assert shown == ["no case has all of these settings together: they contradict each other "
                     "or were never run together"]  # fmt: skip
