"""The xdist scheduler keeps each implementation's groups on the workers that already run it."""

from __future__ import annotations

from collections import OrderedDict

from conformance.grid import cases_by_id
from conformance.scheduling import CaseGroupScheduling, case_groups


class Worker:
    def __init__(self, name: str):
        self.name = name
        self.sent: list[list[int]] = []

    def send_runtest_some(self, indexes: list[int]) -> None:
        self.sent.append(indexes)

    def __repr__(self) -> str:
        return self.name


def scheduler_over(groups: dict[str, list[str]], workers: list[Worker]) -> CaseGroupScheduling:
    """A scheduler whose queue holds `groups` (group -> node ids, "impl:mode" names) in order,
    without an xdist session: only the state the assignment reads."""
    scheduler = CaseGroupScheduling.__new__(CaseGroupScheduling)
    scheduler.groups = {}
    scheduler.implementation_of = {g: g.split(":")[0] for g in groups}
    scheduler.implementations_on = {}
    scheduler.assigned_work = {}
    scheduler.workqueue = OrderedDict((g, {n: False for n in ids}) for g, ids in groups.items())
    collection = [n for ids in groups.values() for n in ids]
    scheduler.registered_collections = {w: collection for w in workers}
    return scheduler


def take(scheduler: CaseGroupScheduling, worker: Worker) -> str:
    scheduler._assign_work_unit(worker)
    return list(scheduler.assigned_work[worker])[-1]


def queue(*names: str) -> dict[str, list[str]]:
    return {name: [f"{name}-{i}" for i in range(2)] for name in names}


def test_workers_start_on_different_implementations_and_keep_them():
    a, b = Worker("gw0"), Worker("gw1")
    scheduler = scheduler_over(
        queue("keras:LSTM", "keras:GRU", "torch:LSTM", "keras:RNN", "torch:GRU", "jax:LSTM"),
        [a, b],
    )
    assert take(scheduler, a) == "keras:LSTM"
    assert take(scheduler, b) == "torch:LSTM"  # not keras: gw0 has it
    assert take(scheduler, a) == "keras:GRU"
    assert take(scheduler, b) == "torch:GRU"
    assert take(scheduler, b) == "jax:LSTM"  # torch is done; jax runs nowhere yet
    assert take(scheduler, b) == "keras:RNN"  # only keras is left: an idle worker takes it
    assert not scheduler.workqueue


def test_a_worker_is_sent_its_groups_cases_by_index():
    a = Worker("gw0")
    scheduler = scheduler_over(queue("torch:LSTM", "numpy:LSTM"), [a])
    take(scheduler, a)
    take(scheduler, a)
    assert a.sent == [[0, 1], [2, 3]]


def test_groups_are_implementation_and_mode_or_whole_implementations():
    case_id, case = next(iter(cases_by_id().items()))
    assert case_groups(False)[case_id] == (
        case.implementation,
        f"{case.implementation}:{case.mode_label}",
    )
    assert case_groups(True)[case_id] == (case.implementation, case.implementation)
