"""sizes: on sizes drawn by hypothesis, output, h_n and c_n equal the float64 reference.

The grid's sizes are fixed (seq 7, batch 5, input 10, hidden 9, proj 8): an implementation that
is right there and wrong for a batch of one, a hidden size below the input size, a projection of
1 or a single step is not caught by it. A case of this kind (one per implementation, mode and
dtype) draws examples: seq_len 1-9, batch 1-6, input_size and hidden_size 1-12, proj_size in
[0, hidden_size) for an LSTM, num_layers 1-3, and the flags whose code paths depend on the sizes
(bidirectional, batch_first, bias, initial state given or zeros), and the seed of the weights
and inputs. Each example is judged as a `forward` case of those sizes would be: against the
reference, at the dtype's tolerance, under the divergences declared for its configuration.

An example the implementation cannot express (a `Limit` of its registry entry: proj_size on
Keras, bias=False where refused) is never drawn or is rejected (`hypothesis.assume`), never
counted as passed; the case is `unsupported` only when its mode and dtype are. The first example
that fails or raises is shrunk by hypothesis to a minimal one: the case then fails with that
example's comparison and a repro command that reruns exactly it
(`python -m conformance.repro CASE_ID --example TEXT`).

How many examples: the hypothesis settings profile (conformance/profiles.py; `pytest
--hypothesis-profile nightly` for more), divided by EXAMPLE_DIVISOR for implementations where
every example is an export or a compilation.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import fields, replace

from hypothesis import HealthCheck, assume, given, seed, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

import adapters
from adapters import Setting

from ..axes import MODE
from ..cases import Case, Sizes
from ..tolerances import tolerance_for
from . import forward
from .kind import CheckKind, Runner

RANGES = {
    "seq_len": (1, 9),
    "batch": (1, 6),
    "input_size": (1, 12),
    "hidden_size": (1, 12),
    "num_layers": (1, 3),
}
SEED_MAX = 2**32 - 1
# Where each example is an export, a conversion or a compilation of its own (measured on this
# machine: 2 to 15 s of wall time each, against 0.03-0.4 s for numpy, torch and ONNX Runtime),
# fewer examples: the profile's max_examples divided by this (at least 1). docs/PERFORMANCE.md.
EXPENSIVE = 5
EXAMPLE_DIVISOR = {
    **dict.fromkeys(("torch-onnx", "keras-onnx", "keras", "keras-jax", "jax"), EXPENSIVE),
    **dict.fromkeys(("flax", "flax-optimized", "flax-nnx", "flax-nnx-optimized"), EXPENSIVE),
    "keras-torch": 2,
}
# A derandomized profile draws from this seed: hypothesis would otherwise seed it from the source
# text of the test function below, so an edit of that function would change every example (and
# the examples baselines keep) although no drawing rule changed.
DERANDOMIZED_SEED = 20261123
FLAGS = ("num_layers", "bidirectional", "batch_first", "proj_size", "bias", "initial_state")
SIZES = tuple(f.name for f in fields(Sizes))
EXAMPLE_KEYS = (*SIZES[:-1], *FLAGS, "seed")  # the order of an example's text


class Falsified(Exception):
    """An example the implementation got wrong (or raised on): carries its judgement."""

    def __init__(self, result) -> None:
        super().__init__(result.reason)
        self.result = result


def example_text(example: Case) -> str:
    """One line naming an example, as the repro command takes it."""
    values = {**vars(example.sizes), **{name: getattr(example, name) for name in FLAGS}}
    return ",".join(f"{key}={_token(values[key])}" for key in EXAMPLE_KEYS)


def _token(value) -> str:
    return str(int(value)) if isinstance(value, bool) else str(value)


def parse_example(case: Case, text: str) -> Case:
    """The example case `text` names (example_text's form) for the grid case `case`."""
    try:
        values = dict(item.split("=", 1) for item in text.split(",") if item)
    except ValueError:
        raise ValueError(f"example {text!r}: expected key=value pairs joined by ','") from None
    if missing := [key for key in EXAMPLE_KEYS if key not in values]:
        raise ValueError(f"example {text!r} lacks {', '.join(missing)}")
    if unknown := sorted(set(values) - set(EXAMPLE_KEYS)):
        raise ValueError(f"example {text!r}: unknown {', '.join(unknown)}")
    try:
        flags = {
            "num_layers": int(values["num_layers"]),
            "proj_size": int(values["proj_size"]),
            "bidirectional": _boolean(values["bidirectional"]),
            "batch_first": _boolean(values["batch_first"]),
            "bias": _boolean(values["bias"]),
            "initial_state": values["initial_state"],
        }
        sizes = Sizes(**{key: int(values[key]) for key in SIZES})
    except ValueError as error:
        raise ValueError(f"example {text!r}: {error}") from None
    if flags["initial_state"] not in ("given", "zeros"):
        raise ValueError(f"example {text!r}: initial_state is 'given' or 'zeros'")
    example = replace(case, **flags, sizes=sizes)
    example.spec  # noqa: B018 - a Spec refuses impossible sizes (0, proj >= hidden) here
    return example


def _boolean(token: str) -> bool:
    if token not in ("0", "1"):
        raise ValueError(f"a flag is 0 or 1, not {token!r}")
    return token == "1"


def expressible(case: Case, **changes) -> bool:
    """The implementation can express the case's mode and dtype with these changes."""
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    probe = replace(case, **changes)
    return not impl.unsupported_reason(Setting(spec=probe.spec, dtype=case.dtype))


@st.composite
def examples(draw, case: Case) -> Case:
    """An example case of `case` (a grid case of this kind): its sizes, flags and seed drawn.
    A value the implementation cannot express is not drawn (proj_size, bias=False)."""
    seq_len, batch, input_size, hidden_size, num_layers = (
        draw(st.integers(*RANGES[key]), label=key) for key in RANGES
    )
    proj_size = 0
    if case.mode == "LSTM" and hidden_size > 1 and expressible(case, proj_size=1):
        proj_size = draw(st.integers(0, hidden_size - 1), label="proj_size")
    bias = draw(st.booleans(), label="bias") if expressible(case, bias=False) else True
    example = replace(
        case,
        num_layers=num_layers,
        bidirectional=draw(st.booleans(), label="bidirectional"),
        batch_first=draw(st.booleans(), label="batch_first"),
        proj_size=proj_size,
        bias=bias,
        initial_state=draw(st.sampled_from(("given", "zeros")), label="initial_state"),
        sizes=Sizes(seq_len, batch, input_size, hidden_size, draw(st.integers(0, SEED_MAX))),
    )
    impl = adapters.IMPLEMENTATIONS[case.implementation]
    assume(not impl.unsupported_reason(example.setting))  # a combination the registry refuses
    return example


def example_settings(case: Case, profile: settings | None = None) -> settings:
    """The profile's settings (the loaded one by default), with this implementation's number of
    examples, and never a deadline or a database: a framework's first call compiles, and a
    conformance run writes nothing but its results."""
    profile = settings() if profile is None else profile
    divisor = EXAMPLE_DIVISOR.get(case.implementation, 1)
    return settings(
        profile,
        max_examples=max(1, profile.max_examples // divisor),
        deadline=None,
        database=None,
        report_multiple_bugs=False,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def search(case: Case, runner: Runner, profile: settings | None = None):
    """Run the case's examples; the first failing one, shrunk, is the case's failure."""
    from ..check import CaseResult, run_case  # check.py runs this kind: imported when run

    outcomes: Counter[str] = Counter()
    explained: dict[str, object] = {}  # the declared divergences examples were explained by
    declared: dict[str, object] = {}  # every divergence declared for an example that ran
    worst: dict = {}

    @example_settings(case, profile)
    @given(examples(case))
    def every_example(example: Case) -> None:
        judged = run_case(example, runner)
        declared.update((d.link, d) for d in judged.divergences)
        result = without_the_absent(judged)
        outcomes[result.outcome] += 1
        if result.outcome == "unsupported":  # the adapter refused it, as its registry says
            assume(False)
        if result.outcome not in ("passed", "known-divergence"):
            raise Falsified(result)
        explained.update((d.link, d) for d in result.divergences)
        ratio = max((c.tolerance_ratio or 0.0 for c in result.comparisons), default=0.0)
        if not worst or ratio > worst["ratio"]:
            worst.update(ratio=ratio, result=result)
        # A baseline keeps the first example's tensors: with the default (derandomized) profile
        # the same example every run, whatever the values; the worst example is not (it moves).
        worst.setdefault("first", result)

    if every_example._hypothesis_internal_use_settings.derandomize:
        every_example = seed(DERANDOMIZED_SEED)(every_example)
    start = time.perf_counter()
    try:
        every_example()
    except Falsified as falsified:
        found = falsified.result
        text = example_text(found.case)
        return CaseResult(
            case,
            found.outcome,
            f"example {text}: {found.reason}",
            found.comparisons,
            time.perf_counter() - start,
            found.divergences,
            found.details,
            example=found.case,
            example_text=text,
            examples=summary(outcomes, text),
        )
    except Unsatisfiable as error:
        reason = f"no example it can express was drawn: {error}"
        return CaseResult(case, "unsupported", reason, duration_s=time.perf_counter() - start)
    duration = time.perf_counter() - start
    best = worst["result"]  # the example closest to the bound: its comparisons are recorded
    record = summary(outcomes, "", worst=example_text(best.case))
    if absent := [d for link, d in declared.items() if link not in explained]:
        reason = "; ".join(
            f"declared known divergence showed in none of the examples it covers ({d.link})"
            for d in absent
        )
        reason += "; remove or narrow it in conformance/divergences.py"
        return CaseResult(
            case,
            "failed",
            reason,
            best.comparisons,
            duration,
            absent,
            examples=record,
            outputs=worst["first"].outputs,
        )
    if explained:
        reason = "; ".join(f"{d.reason} ({d.link})" for d in explained.values())
        return CaseResult(
            case,
            "known-divergence",
            reason,
            best.comparisons,
            duration,
            list(explained.values()),
            examples=record,
            outputs=worst["first"].outputs,
        )
    return CaseResult(
        case,
        "passed",
        "",
        best.comparisons,
        duration,
        examples=record,
        outputs=worst["first"].outputs,
    )


def without_the_absent(result):
    """An example's judgement, but a declared divergence that does not show in it is no failure
    of the example (a seq_len 1, hidden_size 1 example may be too small to show a float32
    rounding): `search` fails the case when one shows in none of its examples."""
    if not result.not_showing:
        return result
    shown = [d for d in result.divergences if d not in result.not_showing]
    if shown and any(not c.ok for c in result.comparisons):
        reason = "; ".join(f"{d.reason} ({d.link})" for d in shown)
        return replace(result, outcome="known-divergence", reason=reason, divergences=shown)
    return replace(result, outcome="passed", reason="", divergences=[], not_showing=[])


def summary(outcomes: Counter, falsifying: str, worst: str = "") -> dict:
    """The record's `examples` (docs/RESULTS.md): what hypothesis ran, shrinking included."""
    return {
        "profile": settings.get_current_profile_name(),
        "ran": sum(outcomes.values()),
        "outcomes": dict(sorted(outcomes.items())),
        "falsifying": falsifying or None,
        "worst": worst or None,
    }


DRAWN = {
    **{key: f"{low}..{high}" for key, (low, high) in RANGES.items()},
    "proj_size": "0..hidden_size-1 (LSTM; 0 where it cannot be expressed)",
    "bidirectional": "both",
    "batch_first": "both",
    "bias": "both (True where bias=False cannot be expressed)",
    "initial_state": "given, zeros",
}

CHECK = CheckKind(
    name="sizes",
    description=(
        "on sizes drawn by hypothesis (seq 1-9, batch 1-6, input and hidden 1-12, proj_size "
        "below hidden, 1-3 layers, either direction, layout, bias and initial state), output, "
        "h_n and c_n equal the float64 reference"
    ),
    axes=(MODE,),
    compared=forward.compared,
    tolerance=tolerance_for,
    search=search,
    drawn=DRAWN,
)
