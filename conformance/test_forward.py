"""Forward conformance: output, h_n and c_n of each implementation against the float64 reference."""

from conformance.check import run_case


def test_forward(case, judge):
    judge(run_case(case))
