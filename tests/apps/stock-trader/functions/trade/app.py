"""Buy or sell: the transaction as the workflow records it."""

import uuid
from datetime import datetime, timezone
from random import randint


def lambda_handler(event, context):
    return {
        "id": str(uuid.uuid4()),
        "type": event["side"],
        "price": str(event["stock_price"]),
        "qty": str(randint(1, 10)),
        "timestamp": datetime.now(timezone.utc).isoformat(),
    }
