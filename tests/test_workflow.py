"""The GitHub Actions workflow (.github/workflows/conformance.yml) says what the docs say.

It cannot run here; what can be checked is that its shards cover the selection (groups 1..SPLITS),
that every shard keeps its results and baseline, and that the final job merges with the
documented commands, whose modules and options exist.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from conformance.merge import main as merge_main  # noqa: F401  (the module the merge job runs)

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"


def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text())


def commands(job: dict) -> str:
    return "\n".join(step.get("run", "") for step in job["steps"])


def pytest_options() -> set[str]:
    declared = (ROOT / "conformance" / "options.py").read_text()
    options = set(re.findall(r'"(--[a-z][a-z-]+)"', declared))
    return options | {"--splits", "--group", "-n"}


def test_the_shards_are_groups_1_to_splits():
    document = workflow()
    splits = int(document["env"]["SPLITS"])
    shard = document["jobs"]["shard"]
    assert shard["strategy"]["matrix"]["group"] == list(range(1, splits + 1))
    assert shard["strategy"]["fail-fast"] is False  # one failing shard must not cancel the rest
    run = commands(shard)
    assert '--splits "$SPLITS" --group ${{ matrix.group }}' in run
    assert "-c constraints.txt" in run  # the tested versions


def test_every_shard_keeps_distinct_results_and_its_environment_s_baseline():
    jobs = workflow()["jobs"]
    for name in ("shard", "gpu"):
        run = commands(jobs[name])
        results = re.search(r'--results-json ("[^"]+"|\S+)', run)[1].strip('"')
        assert results.startswith("out/results-") and results.endswith(".json")
        assert "--save-baseline" in run
        upload = next(s for s in jobs[name]["steps"] if "upload-artifact" in s.get("uses", ""))
        assert upload["with"]["path"] == "out/" and upload["if"] == "always()"
        assert upload["with"]["name"].startswith("shard-")
    assert "${{ matrix.group }}" in commands(jobs["shard"])  # one results file per shard


def test_the_options_used_exist():
    known = pytest_options()
    for job in workflow()["jobs"].values():
        for line in commands(job).replace("\\\n", " ").splitlines():
            if "pytest conformance" in line:
                used = {word for word in shlex.split(line) if word.startswith("-")}
                assert used <= known, used - known


def test_the_final_job_merges_every_shard_into_one_report():
    jobs = workflow()["jobs"]
    merge = jobs["merge"]
    assert set(merge["needs"]) == {"shard", "gpu"} and merge["if"] == "always()"
    download = next(s for s in merge["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["pattern"] == "shard-*" and download["with"]["merge-multiple"]
    run = commands(merge)
    assert "python -m conformance.merge shards/results-" in run
    assert "python -m reports build merged/results-*.json -o merged/report.html" in run
    assert "GITHUB_STEP_SUMMARY" in run
