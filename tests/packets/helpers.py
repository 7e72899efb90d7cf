import itertools
import uuid

_order_numbers = itertools.count(1)


def line(price: str, *, qty: int = 1, category: str = "fruit", sku: str = "SKU-1", name: str = "Item") -> dict:
    return {"sku": sku, "name": name, "category": category, "quantity": qty, "unit_price": price}


def order_body(shopper, gross: str, *, packet_code: str | None = None, lines=None, **extra) -> dict:
    body = {
        "order_no": f"T-{next(_order_numbers)}-{uuid.uuid4().hex[:6]}",
        "shopper_id": shopper.pk,
        "gross_amount": gross,
        "lines": lines if lines is not None else [line(gross)],
    }
    if packet_code:
        body["packet_code"] = packet_code
    body.update(extra)
    return body


def post_order(client, body: dict, *, key: str | None = None):
    return client.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=key or uuid.uuid4().hex)
