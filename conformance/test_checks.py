"""Every check kind over its grid (conformance/checks/): one generic test, one case per id."""

from conformance.check import run_case


def test_check(case, judge):
    judge(run_case(case))
