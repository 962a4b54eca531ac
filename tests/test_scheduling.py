"""The xdist scheduler keeps groups on the workers that have loaded what they need."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from dataclasses import replace
from types import SimpleNamespace

from adapters import IMPLEMENTATIONS
from conformance.check import TEST_FILE, TEST_FUNCTION
from conformance.grid import cases_by_id
from conformance.scheduling import (
    SAMPLED_CASE_WEIGHT,
    CaseGroup,
    CaseGroups,
    CaseGroupScheduling,
    case_groups,
    configuration_name,
    exports_every_case,
    groups_before_xla,
)

LOADS = {  # what each implementation loads, as case_groups derives it from the registry
    "keras": {"keras", "tensorflow"},
    "keras-onnx": {"keras", "tensorflow", "tf2onnx", "onnxruntime"},
    "torch": {"torch"},
    "torch-onnx": {"torch", "onnx", "onnxruntime"},
    "jax": {"jax"},
    "torch-onnx-legacy": {"torch", "onnx", "onnxruntime"},
}


class Worker:
    def __init__(self, name: str):
        self.name = name
        self.sent: list[list[int]] = []
        self.shutting_down = False

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def shutdown(self) -> None:
        self.shutting_down = True

    def __repr__(self) -> str:
        return self.name


def scheduler_over(
    groups: dict[str, list[str]], workers: list[Worker], weight: int = 1
) -> CaseGroupScheduling:
    """A scheduler whose queue holds `groups` ("impl:mode" -> node ids) in order, without an
    xdist session: the state that assignment, completion and removal read."""
    scheduler = CaseGroupScheduling.__new__(CaseGroupScheduling)
    scheduler.groups = {
        f"{g}-{i}": CaseGroup(g, frozenset(LOADS[g.split(":")[0]]), weight)
        for g, ids in groups.items()
        for i in range(len(ids))
    }
    scheduler.weights = {}
    scheduler.loads = {g: frozenset(LOADS[g.split(":")[0]]) for g in groups}
    scheduler.before_xla = groups_before_xla(scheduler.groups)
    scheduler.loaded_on, scheduler.index_on = {}, {}
    scheduler.assigned_work = {w: {} for w in workers}
    scheduler.workqueue = OrderedDict((g, {n: False for n in ids}) for g, ids in groups.items())
    collection = [n for ids in groups.values() for n in ids]
    scheduler.registered_collections = {w: collection for w in workers}
    scheduler.log = lambda *args: None
    return scheduler


def real_group(name: str, workers: list[Worker]) -> tuple[CaseGroupScheduling, list[str]]:
    """A scheduler whose queue holds the real group `name` (its case ids in grid order)."""
    groups = case_groups(False)
    ids = [case_id for case_id, group in groups.items() if group.name == name]
    scheduler = scheduler_over({name: [node_id(i) for i in ids]}, workers)
    scheduler.groups = groups
    return scheduler, ids


def take(scheduler: CaseGroupScheduling, worker: Worker) -> str:
    scheduler._assign_work_unit(worker)
    return list(scheduler.assigned_work[worker])[-1]


def node_id(case_id: str) -> str:
    return f"{TEST_FILE}::{TEST_FUNCTION}[{case_id}]"


def queue(*names: str, size: int = 2) -> dict[str, list[str]]:
    """Groups of `size` cases each, their node ids as pytest gives them."""
    return {name: [node_id(f"{name}-{i}") for i in range(size)] for name in names}


def test_workers_start_on_different_frameworks_and_keep_them():
    a, b = Worker("gw0"), Worker("gw1")
    scheduler = scheduler_over(
        queue("keras:LSTM", "keras:GRU", "torch:LSTM", "keras:RNN", "torch:GRU", "jax:LSTM"),
        [a, b],
    )
    assert take(scheduler, a) == "keras:LSTM"
    assert take(scheduler, b) == "torch:LSTM"  # not keras: gw0 has loaded it
    assert take(scheduler, a) == "keras:GRU"
    assert take(scheduler, b) == "torch:GRU"
    assert take(scheduler, b) == "jax:LSTM"  # torch is done; jax is loaded nowhere yet
    assert take(scheduler, b) == "keras:RNN"  # only keras is left: an idle worker takes it
    assert not scheduler.workqueue


def test_an_implementation_goes_where_its_framework_is_loaded():
    a, b = Worker("gw0"), Worker("gw1")
    scheduler = scheduler_over(queue("keras:LSTM", "torch:LSTM", "torch-onnx:LSTM"), [a, b])
    assert take(scheduler, a) == "keras:LSTM"
    assert take(scheduler, b) == "torch:LSTM"
    # keras-onnx is not queued: torch-onnx needs torch, which gw1 has and gw0 does not
    assert take(scheduler, b) == "torch-onnx:LSTM"


def test_a_worker_is_sent_its_groups_cases_by_index():
    a = Worker("gw0")
    scheduler = scheduler_over(queue("torch:LSTM", "jax:LSTM"), [a])
    scheduler.registered_collections[a] = list(reversed(scheduler.registered_collections[a]))
    take(scheduler, a)
    take(scheduler, a)
    assert a.sent == [[3, 2], [1, 0]]  # positions in this worker's own collection


def test_a_finished_group_leaves_the_workload_and_more_work_follows():
    a = Worker("gw0")
    scheduler = scheduler_over(queue("torch:LSTM", "torch:GRU", "jax:LSTM", size=3), [a])
    take(scheduler, a)
    collection = scheduler.registered_collections[a]
    for case_id in ("torch:LSTM-0", "torch:LSTM-1"):
        scheduler.mark_test_complete(a, collection.index(node_id(case_id)))
    assert list(scheduler.assigned_work[a]) == ["torch:LSTM", "torch:GRU"]  # 1 pending: more
    scheduler.mark_test_complete(a, collection.index(node_id("torch:LSTM-2")))
    assert list(scheduler.assigned_work[a]) == ["torch:GRU"]


def test_a_dead_workers_case_is_not_rerun_and_the_rest_of_its_groups_is_requeued():
    a, b = Worker("gw0"), Worker("gw1")
    scheduler = scheduler_over(queue("torch:LSTM", "torch:GRU", "jax:LSTM", size=3), [a, b])
    take(scheduler, a)
    take(scheduler, a)
    collection = scheduler.registered_collections[a]
    scheduler.mark_test_complete(a, collection.index(node_id("torch:LSTM-0")))
    crashed = scheduler.remove_node(a)
    assert crashed == node_id("torch:LSTM-1")  # the case it was running
    assert list(scheduler.assigned_work[b]) == ["jax:LSTM"]  # the idle worker was given work
    assert list(scheduler.workqueue) == ["torch:LSTM", "torch:GRU"]
    assert scheduler.workqueue["torch:LSTM"] == {
        node_id("torch:LSTM-0"): True,
        node_id("torch:LSTM-1"): True,
        node_id("torch:LSTM-2"): False,
    }
    assert a not in scheduler.loaded_on and a not in scheduler.index_on


def test_real_node_ids_are_grouped_by_implementation_and_mode():
    case_id, case = next(iter(cases_by_id().items()))
    scheduler = CaseGroupScheduling.__new__(CaseGroupScheduling)
    scheduler.groups = case_groups(False)
    scheduler.weights = {}
    assert scheduler._split_scope(node_id(case_id)) == f"{case.implementation}:{case.mode_label}"
    loads = IMPLEMENTATIONS[case.implementation].requires
    assert scheduler.groups[case_id].loads == {case.implementation, *loads}
    quick = case_groups(True)[case_id]  # whole implementations: nothing shared between them
    assert quick.name == case.implementation and quick.loads == {case.implementation}


def test_a_workers_cases_come_configuration_by_configuration():
    """Every check kind of a configuration back to back, so that an exporter's few sessions
    still hold the graph its forward case exported when the relation checks run it again."""
    a = Worker("gw0")
    scheduler, ids = real_group("torch-onnx-legacy:LSTM", [a])
    take(scheduler, a)
    sent = [cases_by_id()[ids[i]] for i in a.sent[0]]
    assert sorted(c.id for c in sent) == sorted(ids)
    assert [c.id for c in sent] != ids  # no longer check kind by check kind
    checks = {}  # configuration -> its check kinds, in the order sent
    for case in sent:
        checks.setdefault(replace(case, check=""), []).append(case.check)
    runs = [
        configuration for configuration, _ in itertools.groupby(replace(c, check="") for c in sent)
    ]
    assert len(runs) == len(checks)  # each configuration's cases are consecutive
    shared = [kinds for kinds in checks.values() if len(kinds) >= 3]
    assert shared and all(kinds[0] == "forward" for kinds in shared if "forward" in kinds)


def layouts_in_order(name: str) -> list:
    """The (configuration, layout) runs of the real group `name`, as a worker gets its cases."""
    a = Worker("gw0")
    scheduler, ids = real_group(name, [a])
    take(scheduler, a)
    sent = [cases_by_id()[ids[i]] for i in a.sent[0]]
    runs = [
        configuration for configuration, _ in itertools.groupby(replace(c, check="") for c in sent)
    ]
    assert len(runs) == len(set(runs))  # each configuration and layout in one run
    return runs


def test_a_configurations_other_layout_comes_right_after_it():
    """keras-onnx converts one model for both layouts: the twin must come while it is kept; so
    in every group (a mode of torch-onnx-legacy here, a configuration of keras-onnx)."""
    runs = layouts_in_order("torch-onnx-legacy:GRU")
    twins = [(r, replace(r, batch_first=True)) for r in runs if not r.batch_first]
    assert any(twin in runs for _, twin in twins)  # the group has both layouts of some
    for first, twin in twins:
        if twin in runs:
            assert runs.index(twin) == runs.index(first) + 1
    groups = case_groups(False)
    keras_onnx = {g.name for g in groups.values() if g.name.startswith("keras-onnx:GRU-L2")}
    both = [layouts_in_order(name) for name in sorted(keras_onnx)]
    assert [False, True] in [[r.batch_first for r in runs] for runs in both]


def test_an_exporter_is_scheduled_configuration_by_configuration():
    """Where every case is an export, a group is one configuration (both layouts): the run does
    not end with one worker exporting a whole mode's worth while the others wait. Elsewhere a
    group is an implementation's mode, whose compiled layer structures recur across its
    configurations."""
    for case_id, group in case_groups(False).items():
        case = cases_by_id()[case_id]
        if case.implementation in ("keras-onnx", "torch-onnx"):
            configuration = replace(case, check="", batch_first=False)
            assert group.name == f"{case.implementation}:{configuration_name(configuration)}"
        else:
            assert group.name == f"{case.implementation}:{case.mode_label}"
    assert {i for i, impl in IMPLEMENTATIONS.items() if exports_every_case(impl)} == {
        "keras-onnx",
        "torch-onnx",
    }


def test_a_dead_worker_is_charged_with_the_case_it_was_running_in_its_own_order():
    a, b = Worker("gw0"), Worker("gw1")
    scheduler, ids = real_group("torch-onnx-legacy:LSTM", [a, b])
    take(scheduler, a)
    collection = scheduler.registered_collections[a]
    first, second = a.sent[0][:2]  # the worker finished its first case, died in its second
    assert collection[second] != node_id(ids[1])  # not the collection's second
    scheduler.mark_test_complete(a, first)
    assert scheduler.remove_node(a) == collection[second]
    requeued = scheduler.assigned_work[b]["torch-onnx-legacy:LSTM"]  # the idle worker took the rest
    assert [n for n, done in requeued.items() if done] == [collection[first], collection[second]]
    assert len(b.sent[0]) == len(ids) - 2


def test_a_sampled_check_kinds_cases_weigh_more_and_go_first():
    a = Worker("gw0")
    scheduler = scheduler_over(queue("torch:LSTM", size=5) | queue("torch-onnx:LSTM"), [a])
    for i in range(2):  # torch-onnx samples its check kind: each case is an export
        scheduler.groups[f"torch-onnx:LSTM-{i}"] = scheduler.groups[
            f"torch-onnx:LSTM-{i}"
        ]._replace(weight=SAMPLED_CASE_WEIGHT)
    assert take(scheduler, a) == "torch-onnx:LSTM"  # 2 cases weighing 20 before 5 weighing 5
    groups = case_groups(False)
    sampled = [
        g.weight
        for case_id, g in groups.items()
        if cases_by_id()[case_id].check
        in IMPLEMENTATIONS[cases_by_id()[case_id].implementation].pairwise
    ]
    assert sampled and set(sampled) == {SAMPLED_CASE_WEIGHT}


def test_an_exporter_slowed_by_xla_programs_runs_before_the_jax_groups():
    """The TorchScript exporter's C++ exceptions slow down where XLA has compiled programs: among
    groups equal in what they load it goes first, though lighter; what a worker has loaded still
    comes first."""
    a, b = Worker("gw0"), Worker("gw1")
    groups = queue("jax:LSTM", "jax:GRU", size=5) | queue("torch-onnx-legacy:LSTM")

    def scheduler(declared: bool) -> CaseGroupScheduling:
        made = scheduler_over(groups, [a, b])
        for i in range(2):
            key = f"torch-onnx-legacy:LSTM-{i}"
            made.groups[key] = made.groups[key]._replace(before_xla=declared)
        made.before_xla = groups_before_xla(made.groups)
        return made

    assert take(scheduler(False), a) == "jax:LSTM"  # the heaviest, without the declaration
    declared = scheduler(True)
    assert take(declared, a) == "torch-onnx-legacy:LSTM"
    assert take(declared, b) == "jax:LSTM"
    declared = scheduler(True)
    declared.loaded_on[a] = frozenset({"jax"})
    assert take(declared, a) == "jax:LSTM"  # nothing new to load beats the declaration
    by_mode = {g.name.split(":")[0] for g in case_groups(False).values() if g.before_xla}
    assert by_mode == {"torch-onnx-legacy"}
    assert not any(g.before_xla for g in case_groups(True).values())  # --quick: by weight only


def test_another_distribution_is_left_to_xdist():
    plugin = CaseGroups()
    config = SimpleNamespace(getvalue=lambda name: "loadfile")
    assert plugin.pytest_xdist_make_scheduler(config, log=None) is None


def test_the_groups_of_a_selection_are_those_of_the_grid_in_the_same_order():
    """The controller groups the selected cases only (a fraction of the grid under --check,
    --impl): each selected case gets the group, loads, weight and declaration it has in the
    whole grid, and the configurations keep their order (a worker runs a group's cases by it)."""
    whole = case_groups(False)
    selection = [c for c in cases_by_id().values() if c.check in ("forward", "chunked")]
    selection = [c for c in selection if c.implementation in ("keras-onnx", "torch", "numpy")]
    groups = case_groups(False, selection)
    assert set(groups) == {c.id for c in selection}
    for case_id, group in groups.items():
        assert group._replace(configuration=0) == whole[case_id]._replace(configuration=0)
    order = sorted(groups, key=lambda i: (groups[i].name, groups[i].configuration))
    assert order == sorted(groups, key=lambda i: (whole[i].name, whole[i].configuration))


def test_two_configurations_of_an_exporter_never_share_a_group():
    """A group name per configuration: the same name exactly where the (layout-free)
    configuration is the same, over every configuration of the grid, sampled out or not."""
    names: dict[str, set] = {}
    for case_id, group in case_groups(False).items():
        case = cases_by_id()[case_id]
        if exports_every_case(IMPLEMENTATIONS[case.implementation]):
            names.setdefault(group.name, set()).add(replace(case, check="", batch_first=False))
    assert names and all(len(configurations) == 1 for configurations in names.values())
