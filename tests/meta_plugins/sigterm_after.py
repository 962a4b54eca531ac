"""pytest -p tests.meta_plugins.sigterm_after: SIGTERM to itself after $SIGTERM_AFTER tests."""

import os
import signal

seen = 0


def pytest_runtest_teardown(item):
    global seen
    seen += 1
    if seen == int(os.environ["SIGTERM_AFTER"]):
        os.kill(os.getpid(), signal.SIGTERM)
