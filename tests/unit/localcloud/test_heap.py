"""The server's surviving heap is frozen when it is quiet, and nothing frozen is kept for good (heap.py)."""

import gc
import time
import weakref

import pytest

from workshop.localcloud.server import heap


@pytest.fixture
def settler():
    made = heap.Settler(quiet_s=0.05, full_quiet_s=1.0, min_collections=3, poll_s=0.01)
    yield made
    made.stop()
    gc.unfreeze()  # the test process goes on with a normal collector


def _allocate(rounds: int = 5) -> None:
    for _ in range(rounds):
        [{} for _ in range(1000)]  # containers: each thousand or so is a young collection
        gc.collect(0)


class Node:
    def __init__(self):
        self.me = self  # a cycle: only the cyclic collector frees it


def test_nothing_is_frozen_before_enough_has_been_allocated(settler):
    assert not settler.due() and settler.settles == 0


def test_the_heap_is_frozen_once_quiet_after_allocation(settler):
    settler.start()
    _allocate()
    deadline = time.monotonic() + 5
    while settler.settles == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    settler.stop()  # a later full settle unfreezes before it freezes again: not while we look
    assert settler.settles >= 1
    # Stopped, nothing freezes any more, but a frozen object another thread frees leaves the count:
    # what describe() reports lies between two readings around it.
    before = gc.get_freeze_count()
    described = settler.describe()["frozen"]
    assert 0 < gc.get_freeze_count() <= described <= before


def test_not_while_a_request_is_in_flight(settler):
    gc.callbacks.append(settler._on_collection)
    try:
        _allocate()
        time.sleep(0.1)
        assert settler.due() == "young"
        settler.request_started()
        time.sleep(0.1)
        assert settler.due() is None  # a request running: its price is not paid now
        settler.request_ended()
        assert settler.due() is None  # only just quiet
        time.sleep(0.1)
        assert settler.due() == "young"
        settler.settle(full=False)
        settler.request_started()
        settler.request_ended()
        assert settler.due() is None  # settled, and only just quiet
        time.sleep(1.05)
        assert settler.due() == "full"  # a longer rest: the frozen part is judged again
    finally:
        gc.callbacks.remove(settler._on_collection)


def test_a_cycle_frozen_and_dropped_is_freed_by_the_next_full_settle(settler):
    kept = Node()
    alive = weakref.ref(kept)
    settler.settle(full=False)
    assert alive() is not None
    del kept
    gc.collect()
    assert alive() is not None  # frozen: a full collection does not look at it
    settler.settle(full=False)
    assert alive() is not None  # nor does a settle of the young part
    settler.settle(full=True)  # unfreezes first
    assert alive() is None


def test_a_young_settle_collects_what_is_not_frozen(settler):
    settler.settle()
    dropped = Node()
    alive = weakref.ref(dropped)
    del dropped
    settler.settle(full=False)
    assert alive() is None
