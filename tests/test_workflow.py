"""The GitHub Actions workflow (.github/workflows/conformance.yml) says what the docs say.

It cannot run here; what can be checked is that its shards cover the selection (groups 1..SPLITS),
that every shard keeps its results and baseline, and that the final job merges with the
documented commands, whose modules and options exist.
"""

from __future__ import annotations

import re
import shlex
import subprocess
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
    return options | {"--splits", "--group", "--splitting-algorithm", "-n"}


def test_the_shards_are_groups_1_to_splits():
    document = workflow()
    splits = int(document["env"]["SPLITS"])
    shard = document["jobs"]["shard"]
    assert shard["strategy"]["matrix"]["group"] == list(range(1, splits + 1))
    assert shard["strategy"]["fail-fast"] is False  # one failing shard must not cancel the rest
    run = commands(shard)
    assert '--splits "$SPLITS" --group ${{ matrix.group }}' in run
    assert "--splitting-algorithm least_duration" in run  # no contiguous chunks of one check
    assert "-c constraints.txt" in run  # the tested versions
    step = next(s for s in shard["steps"] if s.get("name") == "run one shard")
    assert "--every-configuration" in step["env"]["EVERY"] and "$EVERY" in step["run"]
    assert "--every-configuration" in pytest_options()


def test_nightly_runs_draw_the_nightly_profile_s_examples():
    from _hypothesis_pytestplugin import LOAD_PROFILE_OPTION
    from hypothesis import settings

    from conformance import profiles

    step = next(s for s in workflow()["jobs"]["shard"]["steps"] if s.get("name") == "run one shard")
    assert "$PROFILE" in step["run"]
    nightly = step["env"]["PROFILE"]
    assert "github.event_name == 'schedule'" in nightly
    assert f"'{LOAD_PROFILE_OPTION} {profiles.NIGHTLY}'" in nightly  # hypothesis' pytest option
    ci, night = settings.get_profile(profiles.CI), settings.get_profile(profiles.NIGHTLY)
    assert night.max_examples > ci.max_examples


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


def test_each_shard_restores_the_compile_cache_it_runs_with_and_saves_it():
    shard = workflow()["jobs"]["shard"]
    steps = shard["steps"]
    directory = re.search(r"--compile-cache (\S+)", commands(shard))[1]
    uses = [s.get("uses", "") for s in steps]
    restore = steps[uses.index("actions/cache/restore@v4")]
    save = steps[uses.index("actions/cache/save@v4")]
    run = next(i for i, s in enumerate(steps) if s.get("name") == "run one shard")
    host = next(i for i, s in enumerate(steps) if s.get("id") == "host")
    assert host < uses.index("actions/cache/restore@v4") < run < uses.index("actions/cache/save@v4")
    assert "host_key()" in steps[host]["run"]  # conformance/compile_cache.py's subdirectory name
    assert restore["with"]["path"] == save["with"]["path"] == directory
    key, prefix = restore["with"]["key"], restore["with"]["restore-keys"]
    assert save["with"]["key"] == key
    # a cache entry is never overwritten: each run saves under a key of its own and restores
    # the newest of its shard, environment and CPU at the pinned versions
    assert key.endswith("-${{ github.run_id }}") and key.startswith(prefix)
    parts = ("matrix.environment", "matrix.group", "steps.host.outputs.key", "constraints.txt")
    assert all(part in prefix for part in parts)
    assert "github.event_name != 'schedule'" in save["if"]  # nightly programs are not kept


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
    assert set(merge["needs"]) == {"shard", "gpu"} and merge["if"] == "${{ !cancelled() }}"
    download = next(s for s in merge["steps"] if "download-artifact" in s.get("uses", ""))
    assert download["with"]["pattern"] == "shard-*" and download["with"]["merge-multiple"]
    run = commands(merge)
    assert "python -m conformance.merge shards/results-" in run
    assert "python -m reports build merged/results-*.json -o merged/report.html" in run
    assert "GITHUB_STEP_SUMMARY" in run
    assert "|| status=1" in run and run.rstrip().endswith("exit $status")  # a lost shard fails


def matrix_jobs(job: dict) -> list[dict]:
    """The shard job's matrix as GitHub expands it (here: no exclude; include entries extend
    the combinations whose values they match)."""
    matrix = job["strategy"]["matrix"]
    axes = {k: v for k, v in matrix.items() if k != "include"}
    combinations = [{}]
    for key, values in axes.items():
        combinations = [{**c, key: v} for c in combinations for v in values]
    for extra in matrix.get("include", []):
        for combination in combinations:
            if all(combination.get(k, v) == v for k, v in extra.items() if k in axes):
                combination.update(extra)
    return combinations


def render(text: str, values: dict) -> str:
    return re.sub(r"\$\{\{ matrix\.(\w+) \}\}", lambda m: str(values[m[1]]), text)


def test_each_shard_s_names_are_distinct_and_the_merge_step_finds_each_environment(tmp_path):
    jobs = workflow()["jobs"]
    shard = jobs["shard"]
    combinations = matrix_jobs(shard)
    assert len(combinations) == len(shard["strategy"]["matrix"]["environment"]) * int(
        workflow()["env"]["SPLITS"]
    )
    upload = next(s for s in shard["steps"] if "upload-artifact" in s.get("uses", ""))
    run = commands(shard)
    results_pattern = re.search(r'--results-json ("[^"]+"|\S+)', run)[1].strip('"')
    artifacts = {render(upload["with"]["name"], c) for c in combinations}
    assert len(artifacts) == len(combinations)  # no two jobs upload under one name
    shards = tmp_path / "shards"
    shards.mkdir()
    for combination in combinations:  # the files as the download step lays them out
        name = Path(render(results_pattern, combination)).name
        (shards / name).write_text("{}")
    merge_step = commands(jobs["merge"])
    listing = re.search(r"for environment in \$\((.+)\); do", merge_step)[1]
    found = subprocess.run(["bash", "-c", listing], cwd=tmp_path, capture_output=True, text=True)
    environments = set(found.stdout.split())
    assert environments == set(shard["strategy"]["matrix"]["environment"])
