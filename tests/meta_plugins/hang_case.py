"""pytest -p tests.meta_plugins.hang_case: the case $HANG_CASE never returns (sleeps)."""

import os
import time


def pytest_runtest_call(item):
    if item.nodeid.endswith(f"[{os.environ['HANG_CASE']}]"):
        time.sleep(3600)
