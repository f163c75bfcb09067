"""DynamoDB: a conditional write is atomic, as DynamoDB makes it (`ddb-conditional-write-lock`).

Every defence that rests on "write this only if" rests on the check and the
write being one step: decide an incident once (`attribute_not_exists(decision)`),
record a change once (`attribute_not_exists(incidentId)`). moto evaluates a
`ConditionExpression` against the item and then writes it, in two steps and
without a lock, so two threads of the server (two HTTP requests at the same
moment) both pass the check and both write. DynamoDB serialises writes to an
item: of two conditional writes at once, one sees the other's result.

The mend holds a lock per table around moto's check and write, for PutItem,
UpdateItem, DeleteItem and TransactWriteItems (a transaction takes the locks
of all its tables, in one order, so two transactions never wait on each other
forever). BatchWriteItem goes through PutItem and DeleteItem. Reads take no
lock: what a reader may see between two writes is what DynamoDB's eventually
consistent reads may show, and every write here is whole under its lock.
A mend of moto registered in seams.py (group "data"), with the issue text in
docs/upstream.md; the unit tests install it too, so their moto is as atomic as
the local cloud's.
"""

from __future__ import annotations

import contextlib
import threading

MARK = "ddb-conditional-write-lock"
_locks: dict[tuple[str, str, str], threading.RLock] = {}
_locks_guard = threading.Lock()


def _lock_key(backend, table_name: str) -> tuple[str, str, str]:
    try:
        name = backend.get_table(table_name).name  # an ARN names the same table as its name
    except Exception:  # no such table: moto's own call says so, under a lock of its own name
        name = str(table_name)
    return str(backend.account_id), str(backend.region_name), name


def table_lock(backend, table_name: str, key: tuple[str, str, str] | None = None) -> threading.RLock:
    """The lock of one table of one backend (account, region); re-entrant, as a transaction's
    writes call the locked single-item writes again."""
    key = key or _lock_key(backend, table_name)
    with _locks_guard:
        lock = _locks.get(key)
        if lock is None:
            lock = _locks[key] = threading.RLock()
        return lock


def _table_name(args, kwargs) -> str:
    return kwargs["table_name"] if "table_name" in kwargs else args[0]


def _transaction_tables(args, kwargs) -> set[str]:
    items = kwargs["transact_items"] if "transact_items" in kwargs else args[0]
    return {operation["TableName"] for item in items or [] for operation in (item or {}).values()
            if isinstance(operation, dict) and isinstance(operation.get("TableName"), str)}


def install_atomic_conditional_writes() -> None:
    """PutItem, UpdateItem, DeleteItem and TransactWriteItems each under their tables' locks.

    Patch points: `DynamoDBBackend.put_item` / `update_item` / `delete_item` /
    `transact_write_items`.
    """
    from moto.dynamodb.models import DynamoDBBackend as cls

    for name in ("put_item", "update_item", "delete_item"):
        original = getattr(cls, name)
        if getattr(original, "_localcloud_fix", None) == MARK:
            continue

        def locked(self, *args, __original=original, **kwargs):
            with table_lock(self, _table_name(args, kwargs)):
                return __original(self, *args, **kwargs)

        locked._localcloud_fix = MARK
        locked.__wrapped__ = original
        setattr(cls, name, locked)

    original = cls.transact_write_items
    if getattr(original, "_localcloud_fix", None) != MARK:
        def transact_write_items(self, *args, __original=original, **kwargs):
            keys = sorted({_lock_key(self, table) for table in _transaction_tables(args, kwargs)})
            with contextlib.ExitStack() as held:
                for key in keys:  # one order for every transaction: two never wait on each other
                    held.enter_context(table_lock(self, key[2], key))
                return __original(self, *args, **kwargs)

        transact_write_items._localcloud_fix = MARK
        transact_write_items.__wrapped__ = original
        cls.transact_write_items = transact_write_items
