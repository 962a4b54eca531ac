"""pytest-xdist scheduling: cases in groups that share a framework, kept on the workers that run it.

A case's cost is mostly its framework's: the import (seconds), the Keras backend's child process,
the programs compiled per layer structure (JAX, Flax, Keras), the ONNX Runtime sessions kept per
worker. Two rules keep that cost paid once:

- Cases are scheduled in groups, each running on one worker: (implementation, mode), or the whole
  implementation under --quick, where an implementation has a handful of cases and its import and
  first case cost more than the rest.
- A worker asking for work gets a group of an implementation it already runs; failing that, one
  of an implementation no other worker runs yet; only when neither is left, any group (the end of
  the run, where an idle worker is worth an import). So on a few workers each framework is
  imported on about one of them, and on many workers the groups still spread over all.

Applies only to xdist's default distribution (`-n` without `--dist`); an explicit --dist is
respected.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadScopeScheduling

from .check import NODE_PATTERN
from .grid import cases_by_id


def case_groups(whole_implementations: bool) -> dict[str, tuple[str, str]]:
    """Case id -> (implementation, group); the group spans check kinds, which share compiled
    programs too."""
    return {
        case_id: (
            case.implementation,
            case.implementation
            if whole_implementations
            else f"{case.implementation}:{case.mode_label}",
        )
        for case_id, case in cases_by_id().items()
    }


class CaseGroupScheduling(LoadScopeScheduling):
    """LoadScopeScheduling over case groups, with workers kept on their implementations."""

    def __init__(self, config, log=None, groups: dict[str, tuple[str, str]] | None = None):
        super().__init__(config, log)
        self.groups = groups or {}
        self.implementation_of: dict[str, str] = {}  # group -> implementation
        self.implementations_on: dict = {}  # worker -> implementations it has run

    def _split_scope(self, nodeid: str) -> str:
        match = NODE_PATTERN.search(nodeid)
        if match and match["case_id"] in self.groups:
            implementation, group = self.groups[match["case_id"]]
            self.implementation_of[group] = implementation
            return group
        return super()._split_scope(nodeid)

    def next_group(self, node) -> str:
        """The queued group `node` should run next (the queue is largest first)."""
        mine = self.implementations_on.setdefault(node, set())
        others = set().union(*(i for n, i in self.implementations_on.items() if n is not node))
        queued = [(group, self.implementation_of.get(group, group)) for group in self.workqueue]
        for wanted in (lambda i: i in mine, lambda i: i not in others):
            for group, implementation in queued:
                if wanted(implementation):
                    return group
        return queued[0][0]

    def _assign_work_unit(self, node) -> None:
        group = self.next_group(node)
        work_unit = self.workqueue.pop(group)
        self.implementations_on.setdefault(node, set()).add(
            self.implementation_of.get(group, group)
        )
        self.assigned_work.setdefault(node, {})[group] = work_unit
        collection = self.registered_collections[node]
        node.send_runtest_some(
            [collection.index(nodeid) for nodeid, done in work_unit.items() if not done]
        )

    def remove_node(self, node):
        """As LoadScopeScheduling's, but the case that killed the worker is not rescheduled:
        rerunning it would kill each replacement worker in turn and lose the rest of its group."""
        self.implementations_on.pop(node, None)
        workload = self.assigned_work.pop(node)
        pending = [
            (scope, nodeid)
            for scope, unit in workload.items()
            for nodeid, completed in unit.items()
            if not completed
        ]
        if not pending:
            return None
        scope, crashitem = pending[0]
        workload[scope][crashitem] = True
        self.workqueue.update({s: unit for s, unit in workload.items() if not all(unit.values())})
        for other in self.assigned_work:
            self._reschedule(other)
        return crashitem


class CaseGroups:
    """The plugin that installs CaseGroupScheduling for xdist's default distribution."""

    def __init__(self, whole_implementations: bool = False):
        self.groups = case_groups(whole_implementations)

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") != "load":
            return None
        return CaseGroupScheduling(config, log, self.groups)
