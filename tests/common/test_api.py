"""The API's money and date-time fields, as the OpenAPI schema states them: every amount a request may carry has the
money grammar, every date-time the RFC 3339 rules — found in the whole schema, so a field declared by hand with DRF's
own DecimalField or DateTimeField is caught here."""

import pytest
from drf_spectacular.generators import SchemaGenerator

from common.datetimes import ACCEPTED_PATTERN, RFC3339_PATTERN
from common.money import amount_pattern

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        return SchemaGenerator().get_schema(request=None, public=True)


def _properties(schema: dict, direction: str):
    """(component.property, property schema) of every component used for `direction` ("request" or "response")."""
    for name, component in schema["components"]["schemas"].items():
        if name.endswith("Request") != (direction == "request"):
            continue
        for field, prop in component.get("properties", {}).items():
            for item in (prop, prop.get("items", {})):  # lists of amounts or moments too
                yield f"{name}.{field}", item


def test_every_request_amount_is_the_money_grammar(schema):
    amounts = {k: p for k, p in _properties(schema, "request") if p.get("format") == "decimal"}
    assert {"OrderInputRequest.gross_amount", "RefundInputRequest.amount", "PayoutInputRequest.amount"} <= set(amounts)
    grammar = {amount_pattern(max_whole_digits=w, positive=p) for w in range(1, 13) for p in (False, True)}
    wrong = {k: p.get("pattern") for k, p in amounts.items() if p.get("pattern") not in grammar}
    assert wrong == {}, "declare these with common.api.MoneyField"


def test_a_positive_amount_says_so_in_its_pattern(schema):
    line = schema["components"]["schemas"]["LineInputRequest"]["properties"]["unit_price"]
    assert line["pattern"] == amount_pattern(positive=True)
    order = schema["components"]["schemas"]["OrderInputRequest"]["properties"]["gross_amount"]
    assert order["pattern"] == amount_pattern()


def test_a_rate_states_its_own_whole_digits(schema):
    rate = schema["components"]["schemas"]["RebateRuleInputRequest"]["properties"]["issuer_rate"]
    assert rate["pattern"] == amount_pattern(max_whole_digits=3)


@pytest.mark.parametrize(("direction", "pattern"), [("request", ACCEPTED_PATTERN), ("response", RFC3339_PATTERN)])
def test_every_date_time_states_the_rfc3339_rules(schema, direction, pattern):
    moments = {k: p for k, p in _properties(schema, direction) if p.get("format") == "date-time"}
    assert len(moments) >= (5 if direction == "request" else 10)
    wrong = {k: p.get("pattern") for k, p in moments.items() if p.get("pattern") != pattern}
    assert wrong == {}, "declare these with common.api.DateTimeField (ModelSerializers map to it by themselves)"
