"""`limit` and `offset` on every paginated list of the API, found from the URLconf so a new list is covered without
anyone listing it here (a route with a path parameter this file cannot fill fails until it is described below)."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.generators import SchemaGenerator
from rest_framework.mixins import ListModelMixin

from common.pagination import MAX_LIMIT, MAX_OFFSET
from tests.factories.campaigns import CampaignFactory

pytestmark = pytest.mark.django_db

BAD = [
    ("limit", "99999999999999999999"),  # the acceptance run's 500: bigint out of range
    ("limit", "0"),
    ("limit", "-1"),
    ("limit", str(MAX_LIMIT + 1)),
    ("limit", "abc"),
    ("limit", "1.5"),
    ("limit", " 5"),
    ("limit", ""),
    ("offset", "-1"),
    ("offset", str(MAX_OFFSET + 1)),
    ("offset", "99999999999999999999"),
    ("offset", "x"),
]


def _routes(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _routes(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern), pattern.callback


def paginated_list_routes() -> list[tuple[str, type]]:
    """(route, view class) of every API view that lists through the pagination class."""
    found = []
    for route, callback in _routes(get_resolver().url_patterns):
        view = getattr(callback, "cls", None)
        if route.startswith("api/") and view and issubclass(view, ListModelMixin) and view.pagination_class:
            found.append((route, view))
    return found


@pytest.fixture
def urls(merchant_client):
    """Each route's path for the merchant client, its parameters filled with objects the client may see."""
    values = {"campaign_id": CampaignFactory(merchant=merchant_client.merchant).pk}
    paths = []
    for route, view in paginated_list_routes():
        names = re.findall(r"<(?:\w+:)?(\w+)>", route)
        missing = [n for n in names if n not in values]
        assert not missing, f"{route} ({view.__name__}): describe {missing} in the `urls` fixture"
        paths.append("/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route))
    return paths


def test_the_sweep_finds_the_api_lists(urls):
    assert {"/api/v1/packets/", "/api/v1/rebates/", "/api/v1/campaigns/", "/api/v1/payouts/"} <= set(urls)


def test_every_list_refuses_a_limit_or_offset_out_of_range_with_400_invalid_pagination(merchant_client, urls):
    wrong = []
    for url in urls:
        for name, value in BAD:
            reply = merchant_client.get(url, {name: value})
            body = reply.json()
            if reply.status_code != 400 or body.get("code") != "invalid_pagination" or not body.get("message"):
                wrong.append(f"{url}?{name}={value!r}: {reply.status_code} {body}")
            elif body["details"] != {name: value}:
                wrong.append(f"{url}?{name}={value!r}: details {body['details']}")
    assert wrong == []


def test_every_list_pages_within_the_bounds(merchant_client, urls):
    for url in urls:
        for params in ({"limit": 1}, {"limit": MAX_LIMIT, "offset": MAX_OFFSET}, {}):
            reply = merchant_client.get(url, params)
            assert reply.status_code == 200, (url, params, reply.json())
            assert set(reply.json()) == {"count", "next", "previous", "results"}


def test_the_schema_states_the_bounds_on_every_list():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    lists = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    lists = [op for op in lists if any(p["name"] == "limit" for p in op.get("parameters", []))]
    assert len(lists) == len(paginated_list_routes())
    for operation in lists:
        bounds = {p["name"]: p["schema"] for p in operation["parameters"] if p["name"] in ("limit", "offset")}
        assert bounds["limit"] == {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT}
        assert bounds["offset"] == {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET}
        assert "400" in operation["responses"], operation["operationId"]
