import pytest
from hypothesis import settings

from conformance import compile_cache, plugin, profiles

# Before pytest_configure, where hypothesis' plugin loads a --hypothesis-profile if one is given.
settings.load_profile(profiles.CI)


def pytest_addoption(parser):
    plugin.add_options(parser)


def pytest_configure(config):
    plugin.configure(config)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook: called only where it is installed
def pytest_configure_node(node):
    compile_cache.send_to_worker(node.config, node.workerinput)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:  # every selected case of every selected check kind
        cases = plugin.selected_cases(metafunc.config)
        metafunc.parametrize("case", cases, ids=[case.id for case in cases])


@pytest.hookimpl(trylast=True)  # after pytest's skip marks, its fixtures and others' hooks
def pytest_runtest_setup(item):
    """A case the declarations settle is skipped here, at the end of its setup, before its test
    body runs."""
    plugin.conclude_declared(item)


@pytest.fixture
def judge(request):
    """Attach the case's record to the report, then pass, skip, xfail or fail the test."""

    def _judge(result):
        plugin.attach_record(request.node, result)
        plugin.attach_arrays(request.node, result)
        plugin.settle_heap(result)  # once per implementation and worker
        plugin.conclude(result, request.config.getoption("runxfail", False))

    return _judge


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    """The report carries the case's arrays (--save-baseline); the item need not keep them."""
    report = yield
    if call.when == "call":
        item.user_properties[:] = [p for p in item.user_properties if p[0] != plugin.ARRAYS_KEY]
    return report
