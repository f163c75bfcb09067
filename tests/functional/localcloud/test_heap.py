"""The real server settles its heap once quiet after a load (heap.py; the settling itself: tests/unit)."""

import time


def test_the_server_settles_after_a_deploy_like_load(cloud):
    """The real server: after allocating (a stack's worth of resources) and a quiet moment, it has settled."""
    time.sleep(1)  # the settle after start-up, if any, is done
    before = cloud.health()["heap"]["settles"]
    sqs = cloud.client("sqs")
    for index in range(100):
        sqs.create_queue(QueueName=f"heap-{index}")
    deadline = time.monotonic() + 10
    health = cloud.health()
    while health["heap"]["settles"] == before and time.monotonic() < deadline:
        time.sleep(0.2)  # health checks are not activity: polling them does not hold the settle off
        health = cloud.health()
    assert health["heap"]["settles"] > before and health["heap"]["frozen"] > 0
