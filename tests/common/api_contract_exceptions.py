"""Every known exception to the API contract test (tests/common/test_api_contract.py), each with its reason.

A failure schemathesis reports is excused only when an entry below matches it: the failure's code (ST201 a
schema-violating request accepted, ST202 a schema-valid request refused), the operation, and what the reply said.
Anything else fails the test. Add an entry only for a rule OpenAPI cannot express, never for a bug.
"""

import json
import re
from collections.abc import Callable
from dataclasses import dataclass

# The project answers a well-formed request that the state of the world refuses (a packet not accepted here, an
# amount over the balance, a campaign not running) with 422 and a stable code (docs/ARCHITECTURE.md, "Error
# replies"). A schema describes requests, not the state they meet, so 422 counts as an acceptable answer to valid
# data, as 401/403/404/409/429 already do by schemathesis's default.
POSITIVE_DATA_STATUSES = ["2xx", "3xx", "401", "403", "404", "409", "422", "429"]


@dataclass(frozen=True)
class Excused:
    failure: str  # schemathesis's failure code
    operation: str  # "METHOD /path", or "*" for every operation
    matches: Callable[[object, dict, str], bool]  # (the case, the reply's JSON or {}, the failure's text) → is it?
    reason: str


def _details_within(*keys: str) -> Callable[[dict, str], bool]:
    """A 400 `invalid` whose every complaint is about one of these fields."""

    def matches(_case, body: dict, _text: str) -> bool:
        details = body.get("details") or {}
        fields = {re.split(r"[\[.]", key)[0] for key in details}
        return body.get("code") == "invalid" and bool(fields) and fields <= set(keys)

    return matches


def _code_in(*codes: str) -> Callable[[object, dict, str], bool]:
    return lambda _case, body, _text: body.get("code") in codes


def _empty_query_parameter(case, _body: dict, text: str) -> bool:
    """The invalid part is a query parameter sent empty (`?to=`)."""
    found = re.search(r"parameter `([^`]+)` in query", text)
    return bool(found) and (case.query or {}).get(found.group(1)) == ""


_CAMPAIGN_RULES = (
    "merchant",
    "multiplier_windows",
    "starts_at",
    "ends_at",
    "earn_rules",
    "rebate_rule",
    "category_rates",
    "segments",
)


EXCUSED: list[Excused] = [
    Excused(
        "ST201",
        "*",
        _empty_query_parameter,
        "An empty query parameter (`?to=`) counts as absent, as in HTML forms; OpenAPI has no way to say so for a "
        "parameter with a pattern.",
    ),
    Excused(
        "ST202",
        "POST /api/v1/lucky/packets/",
        _details_within("non_field_errors"),
        "A lucky packet goes to a group (group_id) or to one person (recipient_id), exactly one of the two.",
    ),
    Excused(
        "ST202",
        "POST /api/v1/orders/",
        _code_in("gross_amount_mismatch"),
        "The gross amount equals the sum of the lines (quantity × unit price): arithmetic across fields.",
    ),
    Excused(
        "ST202",
        "POST /api/v1/trail/events/",
        _code_in("shopper_id_required"),
        "shopper_id is required from a merchant's server and omitted by a shopper's app: one request body serves "
        "both callers, so the schema marks it optional and its description says who must send it.",
    ),
    Excused(
        "ST202",
        "POST /api/v1/payouts/",
        _code_in("amount_below_minimum", "amount_above_maximum", "unsupported_channel"),
        "A withdrawal's bounds are settings (WECHATPAY_MIN_PAYOUT, WECHATPAY_MAX_PAYOUT); the channel enum is every "
        "channel a payout record may carry, of which only wechat_balance is open to new withdrawals.",
    ),
    Excused(
        "ST202",
        "*",
        lambda _case, body, _text: body.get("code") == "invalid" and set(body.get("details") or {}) == {"url"},
        "Django's URLValidator (host labels of at most 63 characters, a real top-level domain, no private hosts "
        "in production) is narrower than the `uri` format of JSON Schema.",
    ),
    Excused(
        "ST201",
        "*",
        lambda _case, _body, text: "Incorrect type" in text or "violates `type`" in text,
        'DRF reads JSON scalars leniently: 5 for the string "5" (and back), "true"/1 for true. The value stored is '
        "the one the schema's type means; only the spelling differs. Money is the exception and is strict "
        "(common.api.MoneyField refuses numbers).",
    ),
    Excused(
        "ST202",
        "POST /api/v1/campaigns/",
        _details_within(*_CAMPAIGN_RULES),
        "Rules across fields and callers: a window ends after it starts and windows do not overlap, a category is "
        "listed once, a segment list goes with a segment scope, an active campaign keeps a rebate rule; only an "
        "operator may choose `merchant` (merchant staff always create for their own): one request body serves both.",
    ),
    Excused(
        "ST202",
        "PUT /api/v1/campaigns/{campaign_id}/",
        _details_within(*_CAMPAIGN_RULES),
        "As for creation, plus state: an earn rule that has issued packets cannot be removed, the merchant of a "
        "campaign cannot change.",
    ),
    Excused(
        "ST202",
        "PATCH /api/v1/campaigns/{campaign_id}/",
        _details_within(*_CAMPAIGN_RULES),
        "As for PUT.",
    ),
    Excused(
        "ST202",
        "*",
        _code_in("invalid_date_range", "date_range_too_long"),
        "A report's `from` must not be after `to`, and the range is at most REPORT_MAX_DAYS: two query parameters "
        "compared with each other, which OpenAPI cannot state.",
    ),
]


def excused(failure, case, response_text: str) -> Excused | None:
    """The entry that excuses this failure, if any."""
    try:
        body = json.loads(response_text or "{}")
    except ValueError:
        body = {}
    if not isinstance(body, dict):
        body = {}
    text = str(failure)
    operation = f"{case.method.upper()} {case.operation.path}"
    for entry in EXCUSED:
        if entry.failure == failure.code and entry.operation in ("*", operation) and entry.matches(case, body, text):
            return entry
    return None
