"""The framework floor (issue 13, item 4): the cheapest request Django + DRF can serve with the order API's stack.

The same middleware, token authentication, JSON parser and renderer, and a body like an order's; the view inserts one
row into `bench_floor_row` in a transaction and replies 201 with a small JSON body. No Django request that writes to
the database does less, so redemptions/s ÷ this rate says how much of the framework's ceiling the redemption reaches.

Mounted only by bench/urls.py (bench/settings.py), never by config.urls. The table is the bench's own, created with
raw SQL by `ensure_table` (no migration: production apps never see it).
"""

from __future__ import annotations

from django.db import connection, transaction
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

FLOOR_PATH = "bench/floor/"
TABLE_SQL = """CREATE TABLE IF NOT EXISTS bench_floor_row (
    id bigserial PRIMARY KEY,
    order_no varchar(64) NOT NULL UNIQUE,
    gross_amount numeric(12, 2) NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
)"""


def ensure_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute(TABLE_SQL)


class FloorApi(APIView):
    """POST the order body: parse it, authenticate the token, insert one row, reply with its id."""

    def post(self, request):
        data = request.data
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                "INSERT INTO bench_floor_row (order_no, gross_amount) VALUES (%s, %s) RETURNING id",
                [data["order_no"], data["gross_amount"]],
            )
            (row_id,) = cursor.fetchone()
        return Response({"id": row_id, "order_no": data["order_no"]}, status=status.HTTP_201_CREATED)
