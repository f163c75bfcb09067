"""Check the stock's price: the execution input may fix it, else a random price from 0 to 100."""

from random import randint


def lambda_handler(event, context):
    price = event.get("price") if isinstance(event, dict) else None
    return {"stock_price": int(price) if price is not None else randint(0, 100)}
