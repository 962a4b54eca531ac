"""pytest -p tests.meta_plugins.crash_case: the worker running $CRASH_CASE dies (os._exit)."""

import os


def pytest_runtest_call(item):
    if item.nodeid.endswith(f"[{os.environ['CRASH_CASE']}]"):
        os._exit(13)
