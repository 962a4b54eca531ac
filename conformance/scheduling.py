"""pytest-xdist scheduling: cases in groups that share a framework, kept on the workers that run it.

A case's cost is mostly its framework's: the import (seconds), the Keras backend's child process,
the programs compiled per layer structure (JAX, Flax, Keras), the ONNX Runtime sessions kept per
worker. Two rules keep that cost paid once:

- Cases are scheduled in groups, each running on one worker: (implementation, mode); one
  configuration (both layouts) of an implementation whose every case is an export (torch-onnx,
  keras-onnx), where nothing compiled is shared between configurations and a mode's worth of
  exports at the end of a run kept one worker busy for 47 s while the other waited
  (docs/PERFORMANCE.md); or the whole implementation under --quick, where an implementation
  has a handful of cases and its import and first case cost more than the rest. There the
  groups are few and large, and keeping those that share a package together would pile the
  costly ones onto one worker: they are ordered by weight only (docs/PERFORMANCE.md has the
  runs of both).
- A worker asking for work gets the queued group that needs the fewest packages (the registry's
  `requires`, and the implementation itself for what it keeps per worker) that another worker
  has already loaded, one that needs nothing new before one that does, and the heaviest among
  equals (a case weighs 1, or SAMPLED_CASE_WEIGHT where its check kind is sampled because each
  case costs an export or a compilation: the costly groups first, the cheap ones fill in at the
  end). Among groups equal in what they load, one whose framework slows down in a process where
  JAX and Flax have run (the registry's `before_xla`; measured, the mechanism not pinned down:
  docs/PERFORMANCE.md) comes before the heavier ones, so that a fresh worker runs it before it
  takes JAX's groups. So a worker goes on with the frameworks it has, a second
  worker starts on other frameworks, and only at the end of the run does an idle worker load
  what another already has.
  On a few workers each framework is imported on about one of them; on many, the groups still
  spread over all.
- A worker runs its group's cases configuration by configuration: every check kind of one
  configuration (the same weights and inputs, conformance/cases.py `make_data`, and the same
  dtype, layout and inputs given) one after the other, then the same in the other layout (the
  weights are the same, `batch_first` is not part of them), the configurations in the order
  they first appear in the grid (conformance/grid.py). Where the configuration's `forward` case is
  selected, a relation check's unchanged run is then the graph that case exported a moment
  before, still among the few sessions an exporter keeps (adapters/export_cache.py), not one
  exported again hundreds of cases later.

Applies to xdist's load distribution, the default of -n; another --dist is respected.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

import pytest
from xdist.scheduler import LoadScopeScheduling

from adapters import IMPLEMENTATIONS
from adapters.registry import Implementation

from .axes import ALL_AXES
from .cases import Case
from .check import NODE_PATTERN
from .grid import cases_by_id
from .options import selected_cases

# A case of a check kind its implementation samples (`pairwise=` in the registry: every case
# costs an export or a compilation there) weighs as much as this many others, for the order.
SAMPLED_CASE_WEIGHT = 10


class CaseGroup(NamedTuple):
    """A case's scheduling group, what the group loads on a worker, the case's weight, and its
    place in the order a worker runs them: where its configuration first appears among the cases,
    the configuration's other layout right after."""

    name: str
    loads: frozenset[str]
    weight: int
    configuration: int = 0
    before_xla: bool = False


def case_groups(
    whole_implementations: bool, cases: Iterable[Case] | None = None
) -> dict[str, CaseGroup]:
    """Case id -> its CaseGroup, for `cases` (default: every case of the grid) in grid order. A
    group spans check kinds, which share compiled programs too."""
    groups = {}
    configurations: dict = {}  # a case's fields but check kind and layout -> first appearance
    for case in cases_by_id().values() if cases is None else cases:
        case_id = case.id
        implementation = IMPLEMENTATIONS[case.implementation]
        name = (
            case.implementation
            if whole_implementations
            else f"{case.implementation}:{case.mode_label}"
        )
        loads = frozenset({case.implementation})
        if not whole_implementations:  # one group each: packages shared would pile them up
            loads |= frozenset(implementation.requires)
        weight = SAMPLED_CASE_WEIGHT if case.check in implementation.pairwise else 1
        # a configuration's other layout comes right after it: an exporter whose graph takes
        # one layout whatever the case's (keras-onnx) then converts the pair once
        layouts = replace(case, check="", batch_first=False)
        index = configurations.setdefault(layouts, len(configurations))
        configuration = 2 * index + case.batch_first
        if not whole_implementations and exports_every_case(implementation):
            # what it reuses stays within a configuration (adapters/export_cache.py): a group
            # per configuration (both layouts), so that the run does not end on one worker
            # exporting a whole mode's worth of them while the others wait
            name = f"{case.implementation}:{configuration_name(layouts)}"
        # not among whole implementations (--quick): a handful of cases, ordered by weight only
        before_xla = implementation.before_xla and not whole_implementations
        groups[case_id] = CaseGroup(name, loads, weight, configuration, before_xla)
    return groups


def configuration_name(case: Case) -> str:
    """A configuration's id tokens but its layout, with its dtype: RNN_TANH-L1-uni-bias-h0-
    float64 (the same whatever else is selected)."""
    tokens = [axis.token(case) for axis in ALL_AXES if axis.name != "batch_first"]
    return "-".join([*filter(None, tokens), case.dtype])


def exports_every_case(implementation: Implementation) -> bool:
    """Every case of it is a costly export or conversion, for every check kind (its registry
    entry samples even `forward`): nothing compiled is shared between its configurations.
    torch-onnx-legacy's TorchScript exports take milliseconds: its groups stay modes."""
    return "forward" in implementation.pairwise


def groups_before_xla(groups: dict[str, CaseGroup]) -> set[str]:
    """The names of the groups a fresh worker runs before JAX's, among equals."""
    return {group.name for group in groups.values() if group.before_xla}


class CaseGroupScheduling(LoadScopeScheduling):
    """LoadScopeScheduling over case groups, with workers kept on what they have loaded."""

    def __init__(self, config, log=None, groups: dict[str, CaseGroup] | None = None):
        super().__init__(config, log)
        self.groups = groups or {}
        # a group's cases share their implementation, and so what they load
        self.loads = {group.name: group.loads for group in self.groups.values()}
        self.before_xla = groups_before_xla(self.groups)
        self.weights: dict[str, int] = {}  # group -> its cases' weights, when first queued
        self.loaded_on: dict = {}  # worker -> what its groups have loaded
        self.index_on: dict = {}  # worker -> {node id: index in its collection}

    def group_of(self, nodeid: str) -> CaseGroup | None:
        match = NODE_PATTERN.search(nodeid)
        return self.groups.get(match["case_id"]) if match else None

    def _split_scope(self, nodeid: str) -> str:
        group = self.group_of(nodeid)
        return group.name if group else super()._split_scope(nodeid)

    def weight(self, group: str) -> int:
        if group not in self.weights:
            cases = (self.group_of(nodeid) for nodeid in self.workqueue[group])
            self.weights[group] = sum(case.weight if case else 1 for case in cases)
        return self.weights[group]

    def next_group(self, node) -> str:
        """The queued group `node` should run next."""
        mine = self.loaded_on.get(node, frozenset())
        others = frozenset().union(*(s for n, s in self.loaded_on.items() if n is not node))

        def cost(group):
            new = self.loads.get(group, frozenset()) - mine
            return len(new & others), bool(new), group not in self.before_xla, -self.weight(group)

        return min(self.workqueue, key=cost)  # the first of equals: xdist's order

    def _assign_work_unit(self, node) -> None:
        group = self.next_group(node)
        # in the order the worker will run them (stable: check kinds in collection order), which
        # is the order remove_node reads to find the case a dead worker was running
        work_unit = dict(sorted(self.workqueue.pop(group).items(), key=self.configuration_of))
        self.loaded_on[node] = self.loaded_on.get(node, frozenset()) | self.loads.get(
            group, frozenset()
        )
        self.assigned_work.setdefault(node, {})[group] = work_unit
        if node not in self.index_on:  # list.index per case would cost the controller seconds
            collection = self.registered_collections[node]
            self.index_on[node] = {nodeid: i for i, nodeid in enumerate(collection)}
        index = self.index_on[node]
        node.send_runtest_some([index[nodeid] for nodeid, done in work_unit.items() if not done])

    def configuration_of(self, item: tuple[str, bool]) -> int:
        group = self.group_of(item[0])
        return group.configuration if group else 0

    def mark_test_complete(self, node, item_index: int, duration: float = 0) -> None:
        """As LoadScopeScheduling's, and a finished group leaves the worker's workload, so that
        counting what is pending (after every case) does not go over every case it ever ran."""
        nodeid = self.registered_collections[node][item_index]
        workload = self.assigned_work[node]
        scope = self._split_scope(nodeid)
        workload[scope][nodeid] = True
        if all(workload[scope].values()):
            del workload[scope]
        self._reschedule(node)

    def remove_node(self, node):
        """As LoadScopeScheduling's, but the case that killed the worker is not rescheduled:
        rerunning it would kill each replacement worker in turn and lose the rest of its group."""
        self.loaded_on.pop(node, None)
        self.index_on.pop(node, None)
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
        self.whole_implementations = whole_implementations

    @pytest.hookimpl
    def pytest_xdist_make_scheduler(self, config, log):
        if config.getvalue("dist") != "load":
            return None
        # made here, not at configure: -n 0 and other --dist never pay for the grid's groups;
        # of the selected cases only (the options' selection; -k deselects among them later)
        groups = case_groups(self.whole_implementations, selected_cases(config))
        return CaseGroupScheduling(config, log, groups)
