"""The API's money and date-time fields, as the OpenAPI schema states them: every amount a request may carry has the
money grammar, every date-time the RFC 3339 rules — found in the whole schema, so a field declared by hand with DRF's
own DecimalField or DateTimeField is caught here."""

import re

import pytest
from django.urls import resolve
from drf_spectacular.generators import SchemaGenerator
from rest_framework.exceptions import ValidationError

from common.api import ID_FILTER_SCHEMA, MoneyField, id_filter
from common.datetimes import ACCEPTED_PATTERN, RFC3339_PATTERN
from common.errors import ApplicationError
from common.idempotency import is_idempotent
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


def _operations(schema: dict):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield f"{method.upper()} {path}", operation


def test_every_idempotent_method_requires_its_key_and_no_other_does(schema):
    found = 0
    for label, operation in _operations(schema):
        method, path = label.split(" ", 1)
        view = resolve(re.sub(r"\{[^}]+\}", "1", path)).func
        headers = {p["name"]: p for p in operation.get("parameters", []) if p["in"] == "header"}
        if is_idempotent(getattr(view.cls, method.lower())):
            found += 1
            assert headers["Idempotency-Key"]["required"] is True, label
            assert headers["Idempotency-Key"]["schema"]["maxLength"] == 255, label
        else:
            assert "Idempotency-Key" not in headers, label
    assert found >= 6  # orders, refunds, payouts, lucky packets, enrolments, feedback


def test_every_operation_documents_the_shared_error_replies_with_retry_after(schema):
    for label, operation in _operations(schema):
        responses = operation["responses"]
        for code in ("400", "401", "403", "404", "413", "415", "422", "429", "503"):
            assert responses[code]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}, (
                label,
                code,
            )
        assert "Retry-After" in responses["429"]["headers"], label
        assert "Retry-After" in responses["503"]["headers"], label


def test_a_nullable_amount_is_null_only_as_json_null():
    field = MoneyField(allow_null=True)
    assert field.run_validation(None) is None
    for blank in ("", "  "):
        with pytest.raises(ValidationError):
            field.run_validation(blank)


def test_the_id_filter_schema_states_the_bounds_the_parser_keeps():
    assert id_filter({"order": str(ID_FILTER_SCHEMA["maximum"])}, "order", "bad") == ID_FILTER_SCHEMA["maximum"]
    assert id_filter({"order": ""}, "order", "bad") is None
    for refused in (str(ID_FILTER_SCHEMA["minimum"] - 1), str(ID_FILTER_SCHEMA["maximum"] + 1), "+1", " 1", "1\n"):
        with pytest.raises(ApplicationError):
            id_filter({"order": refused}, "order", "bad")
