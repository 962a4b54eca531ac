"""The differential conformance suite: `pytest conformance -n auto`."""
