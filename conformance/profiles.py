"""The hypothesis settings profiles of the suite, for the check kinds that draw examples
(conformance/checks/sizes.py). `pytest conformance --hypothesis-profile nightly` picks one:
conformance/conftest.py loads CI when it is imported, and hypothesis' pytest plugin then loads the
profile the option names (in every xdist worker too: they get the same options).

- CI ("conformance"): bounded and reproducible. derandomize: the same examples on every run and
  every worker (a failure seen in CI is seen again by its rerun command); no database (a run
  writes nothing but its results); no deadline (a framework's first call compiles).
  MAX_EXAMPLES_CI keeps the sizes check at about 2 minutes of CPU over every CPU implementation
  (docs/PERFORMANCE.md).
- NIGHTLY ("nightly"): ten times the examples, drawn at random: each night other sizes. A failure
  is reproduced by the repro command in its record (the example is printed whole, seed included),
  not by rerunning the night's draw.
"""

from __future__ import annotations

from hypothesis import Phase, settings

CI, NIGHTLY = "conformance", "nightly"
MAX_EXAMPLES_CI = 10
# The explain phase reruns variations of the falsifying example: an export or a compilation
# each, for nothing a size search needs.
PHASES = (Phase.explicit, Phase.generate, Phase.shrink)

settings.register_profile(
    CI,
    max_examples=MAX_EXAMPLES_CI,
    derandomize=True,
    database=None,
    deadline=None,
    phases=PHASES,
    print_blob=False,
)
settings.register_profile(
    NIGHTLY, settings.get_profile(CI), max_examples=10 * MAX_EXAMPLES_CI, derandomize=False
)
