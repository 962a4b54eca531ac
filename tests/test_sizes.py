"""The sizes check (conformance/checks/sizes.py) finds a size-dependent mistake, shrinks it to a
minimal example, and prints a repro command that reruns exactly that example; its default profile
is bounded and draws the same examples on every run.

The planted mistake is in the numpy implementation (adapters.numpy_reference.run, what
`adapters.run("numpy")` calls), not in the reference the check compares with (bound when the
check kinds were imported), as in tests/meta_plugins/plant_gru_bug.py.
"""

from __future__ import annotations

import json
import shlex

import numpy as np
import pytest
from hypothesis import settings

import adapters
from adapters import numpy_reference
from conformance import divergences, profiles, repro
from conformance.check import run_case
from conformance.checks import sizes
from conformance.grid import case_from_id
from conformance.results_schema import checkers

CASE_ID = "sizes-GRU-numpy-float64"
HONEST = numpy_reference.run


def wrong_for_one_row_narrower_hidden(request):
    """A batch of one whose hidden size is below its input size gets output[..., 0] off by 1e-3
    (a squeezed batch axis taking another code path, say): right at every grid size."""
    tensors = dict(HONEST(request))
    if request.batch == 1 and request.spec.hidden_size < request.spec.input_size:
        output = tensors["output"].copy()
        output[..., 0] += 1e-3
        tensors["output"] = output
    return tensors


@pytest.fixture
def ci_profile():
    previous = settings.get_current_profile_name()
    settings.load_profile(profiles.CI)
    yield settings.get_profile(profiles.CI)
    settings.load_profile(previous)


@pytest.fixture
def planted(monkeypatch):
    monkeypatch.setattr(numpy_reference, "run", wrong_for_one_row_narrower_hidden)


def schema_errors(record: dict) -> list[str]:
    """What the schema refuses in the record, by jsonschema and by the compiled check alike."""
    _, validator, compiled = checkers()
    record = json.loads(json.dumps(record))
    found = [error.message for error in validator.iter_errors(record)]
    return found + ([] if compiled(record) else ["refused by the compiled check"])


def falsify(profile):
    """The planted mistake under enough examples to meet it (1 in ~12 draws of the sizes)."""
    case = case_from_id(CASE_ID)
    return sizes.search(case, adapters.run_request, settings(profile, max_examples=60))


def test_the_honest_implementation_passes_and_the_record_says_how_many_examples(ci_profile):
    result = run_case(case_from_id(CASE_ID))
    assert result.outcome == "passed", result.report()
    record = result.record("t")
    assert record["examples"]["ran"] == profiles.MAX_EXAMPLES_CI
    assert record["examples"]["outcomes"] == {"passed": profiles.MAX_EXAMPLES_CI}
    assert record["examples"]["profile"] == profiles.CI
    # the record claims no one configuration: what was drawn is null, with its range
    assert record["config"]["seq_len"] is None and record["config"]["drawn"]["seq_len"] == "1..9"
    assert schema_errors(record) == []


def test_a_size_dependent_mistake_is_found_shrunk_and_located(ci_profile, planted):
    result = falsify(ci_profile)
    assert result.outcome == "failed", result.report()
    example = result.example
    # shrunk to the smallest example that shows it: one step, one row, hidden 1 below input 2
    assert (example.sizes.seq_len, example.sizes.batch) == (1, 1)
    assert (example.sizes.hidden_size, example.sizes.input_size) == (1, 2)
    assert (example.num_layers, example.bidirectional, example.sizes.seed) == (1, False, 0)
    assert result.reason.startswith(f"example {sizes.example_text(example)}:")
    assert "differs from the reference in output" in result.reason
    (output,) = [c for c in result.comparisons if not c.ok]
    assert output.name == "output" and np.isclose(output.max_abs_err, 1e-3)
    assert output.worst["unit"] == 0
    record = result.record("t")
    assert record["config"]["batch"] == 1 and record["config"]["hidden_size"] == 1
    assert record["examples"]["falsifying"] == sizes.example_text(example)
    assert schema_errors(record) == []


def test_the_printed_repro_command_reruns_exactly_the_falsifying_example(
    ci_profile, planted, capsys
):
    result = falsify(ci_profile)
    command = shlex.split(result.record("t")["repro"])
    assert command[:4] == ["python", "-m", "conformance.repro", CASE_ID]
    assert command[4] == "--example" and len(command) == 6
    assert repro.main(command[3:]) == 1  # the planted mistake, again
    printed = capsys.readouterr().out
    assert "differs from the reference in output" in printed
    assert result.record("t")["repro"] in printed  # it names the same example again


def test_the_repro_example_passes_on_the_honest_implementation(ci_profile, planted, capsys):
    text = sizes.example_text(falsify(ci_profile).example)
    numpy_reference.run = HONEST  # undone by monkeypatch as well
    assert repro.main([CASE_ID, "--example", text]) == 0
    assert "passed" in capsys.readouterr().out


@pytest.mark.parametrize(
    "text, message",
    [
        ("seq_len=1", "lacks"),
        ("seq_len=x," + ",".join(f"{k}=1" for k in sizes.EXAMPLE_KEYS[1:]), "invalid literal"),
    ],
)
def test_a_malformed_example_is_a_usage_error(text, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        repro.main([CASE_ID, "--example", text])
    assert exit_.value.code == 2 and message in capsys.readouterr().err


def test_the_default_profile_is_bounded_and_draws_the_same_examples_twice(ci_profile):
    profile = settings.get_profile(profiles.CI)
    assert profile.derandomize and profile.database is None and profile.deadline is None
    assert profile.max_examples == profiles.MAX_EXAMPLES_CI
    case = case_from_id(CASE_ID)
    drawn = []

    def recording(name, request):
        drawn[-1].append((request.x.shape, request.spec))
        return HONEST(request)

    for _ in range(2):
        drawn.append([])
        assert sizes.search(case, recording).outcome == "passed"
    assert drawn[0] == drawn[1] and len(drawn[0]) == profiles.MAX_EXAMPLES_CI


def test_the_default_profile_draws_from_its_own_seed_not_the_source_text(ci_profile, monkeypatch):
    """The examples (and so the tensors baselines keep) are the seed's: another seed draws other
    examples; the same seed the same ones, whatever the text of the function that runs them."""
    case = case_from_id(CASE_ID)

    def draw() -> list:
        drawn = []

        def recording(name, request):
            drawn.append((request.x.shape, request.spec))
            return HONEST(request)

        assert sizes.search(case, recording).outcome == "passed"
        return drawn

    first = draw()
    monkeypatch.setattr(sizes, "DERANDOMIZED_SEED", sizes.DERANDOMIZED_SEED + 1)
    assert draw() != first
    monkeypatch.undo()
    assert draw() == first


def test_expensive_implementations_run_fewer_examples(ci_profile):
    case = case_from_id("sizes-LSTM-torch-onnx-float32")
    fewer = sizes.example_settings(case).max_examples
    assert 1 <= fewer < profiles.MAX_EXAMPLES_CI


def test_a_value_the_registry_refuses_is_never_drawn(ci_profile):
    """keras has no proj_size: its LSTM examples are drawn without one, never judged with one."""
    case = case_from_id("sizes-LSTM-keras-float32")
    seen = []

    def recording(name, request):
        seen.append(request.spec.proj_size)
        return HONEST(request)

    result = sizes.search(case, recording, settings(max_examples=20))
    assert result.outcome == "passed" and seen and set(seen) == {0}


def test_an_unsupported_mode_is_unsupported_with_the_registry_reason():
    result = run_case(case_from_id("sizes-GRU-jax-float32"))
    assert result.outcome == "unsupported" and "no GRU" in result.reason


def declare_one_row_offset(monkeypatch):
    """A planted divergence: numpy's output is off for a batch of one (finite, nothing more)."""
    planted = divergences.KnownDivergence(
        implementation="numpy",
        package="numpy",
        versions=">=1",
        applies_to=lambda case: case.mode == "GRU",
        reason="planted: a batch of one is off",
        link="https://example.invalid/issue/13",
        tensors=("output",),
        finite=True,
    )
    monkeypatch.setattr(divergences, "KNOWN_DIVERGENCES", [planted])


def wrong_for_one_row(request):
    tensors = dict(HONEST(request))
    if request.batch == 1:
        tensors["output"] = tensors["output"] + 1e-3
    return tensors


def test_a_divergence_that_shows_in_some_examples_is_a_known_divergence(ci_profile, monkeypatch):
    """Examples too small or too large to show it are no sign of a fix: judged over them all."""
    declare_one_row_offset(monkeypatch)
    monkeypatch.setattr(numpy_reference, "run", wrong_for_one_row)
    result = sizes.search(
        case_from_id(CASE_ID), adapters.run_request, settings(ci_profile, max_examples=20)
    )
    assert result.outcome == "known-divergence", result.report()
    outcomes = result.examples["outcomes"]
    assert outcomes["known-divergence"] >= 1 and outcomes["passed"] >= 1
    assert result.divergences[0].link == "https://example.invalid/issue/13"
    assert schema_errors(result.record("t")) == []


def test_a_divergence_that_shows_in_no_example_fails_the_case(ci_profile, monkeypatch):
    declare_one_row_offset(monkeypatch)
    result = run_case(case_from_id(CASE_ID))  # the honest implementation
    assert result.outcome == "failed"
    assert "showed in none of the examples" in result.reason
    assert "https://example.invalid/issue/13" in result.reason
    assert schema_errors(result.record("t")) == []


def test_a_divergence_does_not_hide_another_mistake(ci_profile, monkeypatch):
    declare_one_row_offset(monkeypatch)

    def h_n_off(request):  # output off for one row (declared), h_n off too (not declared)
        tensors = dict(wrong_for_one_row_narrower_hidden(request))
        if request.batch == 1 and request.spec.hidden_size < request.spec.input_size:
            tensors["h_n"] = tensors["h_n"] + 1e-3
        return tensors

    monkeypatch.setattr(numpy_reference, "run", h_n_off)
    result = falsify(ci_profile)
    assert result.outcome == "failed" and "h_n" in result.reason, result.report()
    assert result.example.sizes.batch == 1


def test_only_a_record_of_drawn_examples_may_leave_its_sizes_null(ci_profile):
    forward = run_case(case_from_id("forward-GRU-L1-uni-seq_first-bias-h0-numpy-float64"))
    record = forward.record("t")
    assert schema_errors(record) == []
    record["config"]["seq_len"] = None  # a grid case claims its sizes
    assert schema_errors(record)
    record["config"]["drawn"] = {"seq_len": "1..9"}
    assert schema_errors(record) == []  # ... unless it says they were drawn


# The profile a sizes case draws with, through pytest: conftest.py loads CI before hypothesis'
# plugin applies its options (which load the profile named, or derive one from the loaded one).


CI_RAN, NIGHTLY_RAN = profiles.MAX_EXAMPLES_CI, 10 * profiles.MAX_EXAMPLES_CI


@pytest.mark.slow
@pytest.mark.parametrize(
    "options, profile, ran",
    [
        ((), profiles.CI, CI_RAN),
        (("--hypothesis-profile", profiles.NIGHTLY), profiles.NIGHTLY, NIGHTLY_RAN),
        # hypothesis' plugin derives a profile from the one loaded: CI's, loaded before it
        (("--hypothesis-verbosity", "quiet"), f"{profiles.CI}-with-quiet-verbosity", CI_RAN),
        (("-n", "2", "--hypothesis-profile", profiles.NIGHTLY), profiles.NIGHTLY, NIGHTLY_RAN),
    ],
)
def test_a_sizes_case_draws_with_the_profile_named(tmp_path, options, profile, ran):
    from tests.test_results_file import run_suite

    completed, document = run_suite(
        tmp_path, "--check", "sizes", "--impl", "numpy", "--mode", "GRU", "--dtype", "float32",
        *options,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout[-3000:]
    (record,) = document["records"]
    assert record["examples"]["profile"] == profile
    assert record["examples"]["ran"] == ran
