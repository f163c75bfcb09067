"""Races, run hundreds of times: each defence that rests on a conditional write holds every time.

"Decided once" and "recorded once" are conditional writes. Two at the same
moment must leave exactly one standing, in every round, not most rounds: so
each race runs ROUNDS times against moto in process (with the local cloud's
mend that makes a conditional write atomic, `ddb-conditional-write-lock`),
with Python switching threads as often as it can, so that a gap between the
check and the write is found if there is one. Without the mend, several
rounds in each run have two winners.
"""

import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import boto3
from incident_steps import EXECUTION, GOOD, revert
from lambda_loader import load_function

receive = load_function("receive_decision")
ROUNDS = 300


@contextmanager
def threads_switching_often():
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def race(rounds: int, setup, contenders: list):
    """For each round: `setup(round)`, then every contender `(round, setup's value)` at once behind a barrier.
    Yields each round's results, in contender order."""
    with ThreadPoolExecutor(len(contenders)) as pool, threads_switching_often():
        for round_ in range(rounds):
            prepared = setup(round_)
            barrier = threading.Barrier(len(contenders))

            def run(contender):
                barrier.wait(timeout=10)
                return contender(round_, prepared)

            yield list(pool.map(run, contenders))


def test_allow_and_deny_at_the_same_moment_one_decision_stands_every_time(stack):
    """The e-mail link's allow and the panel's deny (both ReceiveDecision's one conditional update)."""
    clients = [boto3.client("dynamodb") for _ in range(2)]

    def waiting(round_):
        incident = f"{round_:032x}"
        stack.dynamodb.put_item(TableName=stack.table, Item={
            "incidentId": {"S": incident}, "taskToken": {"S": f"token-{round_}"}, "status": {"S": "awaiting"}})
        return incident

    def by_link(round_, incident):
        return receive.record_decision(clients[0], stack.table, incident, "allow", "e-mail link", receive.VIA_LINK)

    def by_panel(round_, incident):
        return receive.record_decision(clients[1], stack.table, incident, "deny", "arn:aws:iam::1:user/admin",
                                       receive.VIA_PANEL)

    for round_, results in enumerate(race(ROUNDS, waiting, [by_link, by_panel])):
        winners = [r for r in results if r is not None]
        assert len(winners) == 1, f"round {round_}: {len(winners)} decisions stood"
        stored = stack.dynamodb.get_item(TableName=stack.table, Key={"incidentId": {"S": f"{round_:032x}"}},
                                         ConsistentRead=True)["Item"]
        assert stored["decision"] == winners[0]["decision"] and stored["decidedVia"] == winners[0]["decidedVia"]


def test_two_deliveries_of_one_change_record_one_incident_every_time(stack):
    """RevertPolicy's sealed conditional put, from two executions of the state machine at once."""
    clients = [(boto3.client("dynamodb"), boto3.client("kms")) for _ in range(2)]
    rounds = ROUNDS // 2  # each round seals, verifies and writes: twice the calls of a decision

    def fields(round_):
        return {"kind": {"S": "managed"}, "document": {"S": GOOD}, "eventId": {"S": f"event-{round_}"}}

    def delivery(index):
        def deliver(round_, _):
            dynamodb, kms = clients[index]
            return revert.record(dynamodb, kms, stack.table, stack.seal_key, f"managed|ANPA|v{round_}",
                                 f"{EXECUTION}-{index}", fields(round_))
        return deliver

    for round_, held in enumerate(race(rounds, lambda round_: None, [delivery(0), delivery(1)])):
        assert sorted(h.duplicate for h in held) == [False, True], f"round {round_}"
        assert len({h.item_id for h in held}) == 1 and not any(h.planted for h in held)
