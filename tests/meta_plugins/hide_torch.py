"""pytest -p tests.meta_plugins.hide_torch: behave as if torch were not installed."""

from adapters import registry

honest_missing = registry.Implementation.missing


def missing(self):
    return honest_missing(self) + (["torch"] if "torch" in self.requires else [])


def pytest_configure(config):
    registry.Implementation.missing = missing
