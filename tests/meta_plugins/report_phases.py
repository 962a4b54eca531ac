"""pytest -p tests.meta_plugins.report_phases: the controller (or the single process without
xdist) appends each report it receives to $REPORT_PHASES as a JSON line: node id, phase,
outcome."""

import json
import os

_controller = []


def pytest_configure(config):
    if not hasattr(config, "workerinput"):
        _controller.append(True)


def pytest_runtest_logreport(report):
    if _controller:
        with open(os.environ["REPORT_PHASES"], "a") as f:
            f.write(json.dumps([report.nodeid, report.when, report.outcome]) + "\n")
