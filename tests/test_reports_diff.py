"""The regression diff in the report's own look (issue 14, item 8): a verdict banner, the
environment's differences first, a roll-up per implementation, changes grouped by case."""

from __future__ import annotations

import json
import re

from tests.test_reports_hostile import CASES, make_baseline, run_reports, tensors


def changed_baselines(tmp_path):
    old = make_baseline(tmp_path / "old")
    moved = tensors()
    moved["output"] = moved["output"] + 1e-3  # both tensors of one case move
    moved["h_n"] = moved["h_n"] + 1e-3
    new = make_baseline(tmp_path / "new", arrays={CASES[0].id: moved})
    run = json.loads((new / "runs" / "run-1.json").read_text())
    run["environment"]["packages"]["torch"] = "2.14.1"
    run["environment"]["device"] = "cpu; cuda: NVIDIA H100 80GB HBM3"
    (new / "runs" / "run-1.json").write_text(json.dumps(run))
    return old, new


def test_the_diff_leads_with_a_verdict_then_the_environment_then_a_rollup(tmp_path):
    old, new = changed_baselines(tmp_path)
    status, out, err = run_reports("compare", old, new, "-o", tmp_path / "diff.html")
    assert status == 1, err
    page = (tmp_path / "diff.html").read_text()
    banner = re.search(r'<p class="banner s-fail" id="verdict" role="status">(.*?)</p>', page, re.S)
    assert banner and "2 regression(s)" in banner[1] and "✗" in banner[1]
    order = [
        page.index(x) for x in ('id="verdict"', 'id="environment"', 'id="rollup"', 'id="changes"')
    ]
    assert order == sorted(order)
    environment = page[
        page.index('id="environment"') : page.index("</table>", page.index('id="environment"'))
    ]
    assert "2.13.0" in environment and "2.14.1" in environment and "NVIDIA H100" in environment
    rollup = page[page.index('id="rollup"') : page.index("</table>", page.index('id="rollup"'))]
    assert f"{CASES[0].implementation}</td><td>1 of 1 changed</td><td>2</td><td>0</td>" in rollup
    # one entry per case, with both of its tensors inside
    assert page.count(f"REGRESSION {CASES[0].id}") == 1
    assert re.search(rf"REGRESSION {re.escape(CASES[0].id)} · 2 change\(s\): h_n, output", page)


def test_a_diff_without_regression_says_so_in_its_banner(tmp_path):
    old = make_baseline(tmp_path / "old")
    new = make_baseline(tmp_path / "new")
    status, _, err = run_reports("compare", old, new, "-o", tmp_path / "diff.html")
    assert status == 0, err
    page = (tmp_path / "diff.html").read_text()
    assert re.search(r'class="banner s-pass"[^>]*>.*✓.*no regression', page)
    assert "no package or setting changed" in page
