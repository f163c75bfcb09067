"""DynamoDB: a conditional write is atomic, as DynamoDB makes it (`ddb-conditional-write-lock`).

Every defence that rests on "write this only if" rests on the check and the
write being one step: decide an incident once (`attribute_not_exists(decision)`),
record a change once (`attribute_not_exists(incidentId)`). moto evaluates a
`ConditionExpression` against the item and then writes it, in two steps and
without a lock, so two threads of the server (two HTTP requests at the same
moment) both pass the check and both write. Its request handler also copies
the item it is about to update (for `ReturnValues`) while another request may
be changing it ("dictionary changed size during iteration"). DynamoDB
serialises writes to an item: of two conditional writes at once, one sees the
other's result, and a read sees a write whole or not at all.

The mend runs each DynamoDB request of an account and region under one lock,
from parsing to its answer: PutItem, UpdateItem, DeleteItem, the batches and
transactions, and the reads. That is more than DynamoDB serialises (it
serialises per item), never less, and on one server process costs nothing
measurable: moto answers each request in a millisecond or two, and Python runs
one thread at a time anyway. A mend of moto registered in seams.py (group
"data"), with the issue text in docs/upstream.md; the functions' unit tests
install it too, so their in-process moto is as atomic as the local cloud.
"""

from __future__ import annotations

import threading

MARK = "ddb-conditional-write-lock"
_locks: dict[tuple[str, str], threading.RLock] = {}
_locks_guard = threading.Lock()


def backend_lock(account_id: str, region: str) -> threading.RLock:
    """The lock of one account's DynamoDB in one region (re-entrant: a request may call another)."""
    key = (str(account_id), str(region))
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


def install_atomic_requests() -> None:
    """Each DynamoDB request whole under its account's and region's lock.

    Patch point: `moto.dynamodb.responses.DynamoHandler.call_action`.
    """
    from moto.dynamodb.responses import DynamoHandler as cls

    original = cls.call_action
    if getattr(original, "_localcloud_fix", None) == MARK:
        return

    def call_action(self):
        with backend_lock(self.current_account, self.region):
            return original(self)

    call_action._localcloud_fix = MARK
    call_action.__wrapped__ = original
    cls.call_action = call_action
