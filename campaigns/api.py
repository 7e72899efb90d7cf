"""Campaigns through the API: the same configuration, validation, history and simulator as the admin console.

Validation is the models' own `full_clean()` (the admin's messages, word for word) plus the cross-row checks of
`campaigns.validation`; every change is recorded field by field through `campaigns.history`."""

import re
from dataclasses import replace
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import transaction
from django.db.models import Prefetch, ProtectedError
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.models import Merchant
from accounts.selectors import is_platform_operator, merchant_of, scoped_to_merchant
from common.api import ERROR, DateTimeField, MoneyField
from common.errors import ApplicationError
from common.money import amount_pattern

from .history import campaign_changes_record, campaign_rules_snapshot
from .models import Campaign, CategoryRate, EarnRule, MultiplierWindow, RebateRule, RuleChange
from .rules import CartLine, Counters, Event, Region, ShopperFacts, simulate
from .selectors import campaign_spec, campaign_with_rules
from .services import campaign_change_status
from .validation import category_rates_duplicate, multiplier_windows_overlap

RATE = {"max_digits": 5, "decimal_places": 2}
# What a PUT/PATCH may change on the campaign row itself (status: the status endpoint; merchant: fixed at creation).
CAMPAIGN_FIELDS = [
    "name",
    "description",
    "starts_at",
    "ends_at",
    "participants",
    "regions",
    "user_scope",
    "segments",
    "per_user_limit",
    "packet_limit",
    "daily_budget_cap",
    "allow_stacking",
    "hold_days",
    "refund_packet_policy",
]

MERCHANT_IS_YOURS = _("Merchant staff cannot choose the merchant: a campaign always belongs to your own merchant.")
MERCHANT_FIXED = _("The merchant of a campaign cannot change.")
NO_SUCH_ROW = _("No %(what)s %(id)s in this campaign (or it is listed twice).")
RULE_IN_USE = _("Earn rule %(id)s has issued packets and cannot be removed; keep it in the list (with its id).")
NEEDS_REBATE_RULE = _("An active or paused campaign needs a rebate rule; end the campaign instead.")


# --- who may call ----------------------------------------------------------------------------------------------


def campaigns_visible_to(user):
    """Platform operators see every campaign; merchant staff their merchant's; the rules come along."""
    return (
        scoped_to_merchant(Campaign.objects.all(), user, "merchant")
        .select_related("rebate_rule")
        .prefetch_related(
            Prefetch("earn_rules", queryset=EarnRule.objects.order_by("pk")),
            Prefetch("category_rates", queryset=CategoryRate.objects.order_by("category")),
            Prefetch("multiplier_windows", queryset=MultiplierWindow.objects.order_by("starts_at", "pk")),
        )
        .order_by("-pk")
    )


class CampaignStaffOnly:
    """Merchant staff and platform operators only; anyone else who is signed in gets 403 not_a_merchant."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if not (is_platform_operator(request.user) or merchant_of(request.user)):
            raise ApplicationError(
                _("Only merchant staff and platform operators manage campaigns."), code="not_a_merchant", status=403
            )


# --- input -------------------------------------------------------------------------------------------------------
# Types only: ranges, lengths and every rule are the models' clean()/full_clean(), so messages match the admin.


def _texts(max_length: int, help_text: str = "") -> serializers.ListField:
    """A list of names as the model's array column holds them: no empty item, none longer than its column."""
    child = serializers.CharField(max_length=max_length, trim_whitespace=False)
    return serializers.ListField(child=child, default=list, help_text=help_text)


# A region as Campaign.clean reads it: a province, or province/city, each with a visible character.
REGION_PATTERN = r"^[^/]*[^/\s][^/]*(?:/[\s\S]*\S[\s\S]*)?$"


# The largest value of a PositiveIntegerField column: stated in the schema so a larger one is refused as invalid input.
POSITIVE_INT_MAX = 2_147_483_647
_POSITIVE_AMOUNT = amount_pattern(positive=True)[1:-1]
_TIER = rf"{_POSITIVE_AMOUNT}:[1-9][0-9]{{0,8}}"
# Tiers as the console's parser reads them (EarnRule.parsed_tiers), written as one anchored regex for the schema.
TIERS_PATTERN = rf"^(?:{_TIER}(?:, ?{_TIER})*)?$"


@extend_schema_field({"type": "string", "pattern": TIERS_PATTERN})
class TiersField(serializers.CharField):
    """Tiers in the pattern the schema states, matched whole (a `$` alone would let a trailing newline through)."""

    def __init__(self, **kwargs):
        super().__init__(trim_whitespace=False, **kwargs)

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value and not re.fullmatch(TIERS_PATTERN[1:-1], value):
            raise serializers.ValidationError(_("Write tiers as amount:weight pairs, e.g. 5.00:70, 10.00:30."))
        return value


class EarnRuleInput(serializers.Serializer):
    id = serializers.IntegerField(
        required=False,
        help_text="Keep and change this existing rule of the campaign; leave out for a new rule. "
        "Rules not listed are removed (refused when they have issued packets).",
    )
    trigger = serializers.ChoiceField(choices=EarnRule.Trigger.choices, default=EarnRule.Trigger.PURCHASE)
    threshold_amount = MoneyField(default=Decimal("0.00"), help_text="Order amount that earns (purchase only)")
    packet_amount = MoneyField()
    tiers = TiersField(allow_blank=True, default="", help_text="Optional amount:weight pairs, e.g. 5.00:70, 10.00:30")
    valid_days = serializers.IntegerField(default=30, min_value=1, max_value=POSITIVE_INT_MAX)
    min_spend = MoneyField(default=Decimal("0.00"), help_text="Spend needed to use the packet (0 = none)")
    allowed_categories = _texts(50, "Empty = every category")
    denied_categories = _texts(50)


def _leg_choice(choices, name: str):
    """A choice field whose enum is named after the leg (IssuerModeEnum, HolderModeEnum…): both legs share one choice
    set, which the schema would otherwise name twice."""

    @extend_schema_field(
        {"type": "string", "enum": [value for value, _label in choices], "x-spec-enum-id": f"campaigns-{name}"}
    )
    class LegChoiceField(serializers.ChoiceField):
        def __init__(self, **kwargs):
            super().__init__(choices=choices, **kwargs)

    return LegChoiceField


IssuerModeField = _leg_choice(RebateRule.Mode.choices, "issuer_mode")
HolderModeField = _leg_choice(RebateRule.Mode.choices, "holder_mode")
IssuerFundingField = _leg_choice(RebateRule.Funding.choices, "issuer_funding")
HolderFundingField = _leg_choice(RebateRule.Funding.choices, "holder_funding")


class RebateRuleInput(serializers.Serializer):
    issuer_mode = IssuerModeField(default=RebateRule.Mode.RATE)
    issuer_rate = MoneyField(**RATE, default=Decimal("0.00"), help_text='Percent, e.g. "10.00"')
    issuer_fixed = MoneyField(default=Decimal("0.00"))
    issuer_cap = MoneyField(allow_null=True, default=None)
    holder_mode = HolderModeField(default=RebateRule.Mode.RATE)
    holder_rate = MoneyField(**RATE, default=Decimal("0.00"), help_text='Percent, e.g. "5.00"')
    holder_fixed = MoneyField(default=Decimal("0.00"))
    holder_cap = MoneyField(allow_null=True, default=None)
    base = serializers.ChoiceField(choices=RebateRule.Base.choices, default=RebateRule.Base.GROSS)
    holder_form = serializers.ChoiceField(choices=RebateRule.Form.choices, default=RebateRule.Form.CASH)
    points_per_cny = serializers.IntegerField(default=100, min_value=1, max_value=POSITIVE_INT_MAX)
    issuer_funding = IssuerFundingField(default=RebateRule.Funding.CAMPAIGN_BUDGET)
    holder_funding = HolderFundingField(default=RebateRule.Funding.CAMPAIGN_BUDGET)


class CategoryRateInput(serializers.Serializer):
    category = serializers.CharField(allow_blank=True)
    issuer_rate = MoneyField(**RATE, allow_null=True, default=None, help_text="null = the leg's flat rate")
    holder_rate = MoneyField(**RATE, allow_null=True, default=None, help_text="null = the leg's flat rate")


class MultiplierWindowInput(serializers.Serializer):
    id = serializers.IntegerField(
        required=False, help_text="Keep and change this existing window; leave out for a new one."
    )
    starts_at = DateTimeField()
    ends_at = DateTimeField()
    factor = MoneyField(max_digits=4, decimal_places=2, default=Decimal("2.00"))


class CampaignInput(serializers.Serializer):
    merchant = serializers.PrimaryKeyRelatedField(
        queryset=Merchant.objects.all(),
        allow_null=True,
        required=False,
        help_text="Platform operators only, at creation: the merchant, or null for a platform campaign. "
        "Merchant staff leave it out (their campaigns are their merchant's).",
    )
    name = serializers.CharField(allow_blank=True)
    description = serializers.CharField(allow_blank=True, default="")
    starts_at = DateTimeField()
    ends_at = DateTimeField()
    participants = serializers.ChoiceField(
        choices=Campaign.Participants.choices, default=Campaign.Participants.MERCHANT_CONSUMER
    )
    regions = serializers.ListField(
        child=serializers.RegexField(REGION_PATTERN, max_length=40, trim_whitespace=False),
        default=list,
        help_text="Provinces (广东) or cities (广东/深圳); empty = nationwide",
    )
    user_scope = serializers.ChoiceField(choices=Campaign.UserScope.choices, default=Campaign.UserScope.ALL)
    segments = _texts(40)
    per_user_limit = serializers.IntegerField(
        default=0, min_value=0, max_value=POSITIVE_INT_MAX, help_text="0 = no limit"
    )
    packet_limit = serializers.IntegerField(
        default=0, min_value=0, max_value=POSITIVE_INT_MAX, help_text="0 = no limit"
    )
    daily_budget_cap = MoneyField(default=Decimal("0.00"), help_text="0 = none")
    allow_stacking = serializers.BooleanField(default=False)
    hold_days = serializers.IntegerField(
        default=0,
        min_value=0,
        max_value=POSITIVE_INT_MAX,
        help_text="Rebates stay pending this many days (e.g. the return window); 0 = at once",
    )
    refund_packet_policy = serializers.ChoiceField(
        choices=Campaign.RefundPolicy.choices, default=Campaign.RefundPolicy.REISSUE
    )
    earn_rules = EarnRuleInput(many=True, default=list, max_length=20)
    rebate_rule = RebateRuleInput(allow_null=True, default=None)
    category_rates = CategoryRateInput(many=True, default=list, max_length=200)
    multiplier_windows = MultiplierWindowInput(many=True, default=list, max_length=50)


# --- output ------------------------------------------------------------------------------------------------------


class EarnRuleOutput(serializers.ModelSerializer):
    class Meta:
        model = EarnRule
        fields = [
            "id",
            "trigger",
            "threshold_amount",
            "packet_amount",
            "tiers",
            "valid_days",
            "min_spend",
            "allowed_categories",
            "denied_categories",
        ]


class RebateRuleOutput(serializers.ModelSerializer):
    issuer_mode = IssuerModeField()
    holder_mode = HolderModeField()
    issuer_funding = IssuerFundingField()
    holder_funding = HolderFundingField()

    class Meta:
        model = RebateRule
        fields = [f for f in RebateRuleInput._declared_fields]


class CategoryRateOutput(serializers.ModelSerializer):
    class Meta:
        model = CategoryRate
        fields = ["category", "issuer_rate", "holder_rate"]


class MultiplierWindowOutput(serializers.ModelSerializer):
    class Meta:
        model = MultiplierWindow
        fields = ["id", "starts_at", "ends_at", "factor"]


class CampaignOutput(serializers.ModelSerializer):
    earn_rules = EarnRuleOutput(many=True)
    rebate_rule = RebateRuleOutput(allow_null=True)
    category_rates = CategoryRateOutput(many=True)
    multiplier_windows = MultiplierWindowOutput(many=True)

    class Meta:
        model = Campaign
        fields = [
            "id",
            "merchant",
            "status",
            "status_reason",
            *CAMPAIGN_FIELDS,
            "packets_issued",
            "created_at",
            "earn_rules",
            "rebate_rule",
            "category_rates",
            "multiplier_windows",
        ]


class RuleChangeOutput(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor.username", allow_null=True, default=None)

    class Meta:
        model = RuleChange
        fields = ["id", "at", "actor", "target", "changes"]


# --- the write path ----------------------------------------------------------------------------------------------


def _flat(errors, path: str = "") -> dict[str, list[str]]:
    """DRF's nested errors as {"earn_rules[0].packet_amount": [messages]}."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            sub = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
            flat.update(_flat(value, sub))
    elif isinstance(errors, list) and any(isinstance(e, dict | list) for e in errors):
        for index, value in enumerate(errors):
            if value:
                flat.update(_flat(value, f"{path}[{index}]"))
    elif isinstance(errors, list):
        flat[path or "non_field_errors"] = [str(e) for e in errors]
    else:
        flat[path or "non_field_errors"] = [str(errors)]
    return flat


def _add(errors: dict, key: str, messages) -> None:
    errors.setdefault(key, []).extend(str(m) for m in messages)


def _full_clean(instance, path: str, errors: dict, exclude=()) -> None:
    """The model's own validation, exactly as the admin runs it; messages kept word for word."""
    try:
        instance.full_clean(exclude=exclude)
    except DjangoValidationError as exc:
        for field, messages in exc.message_dict.items():
            _add(errors, f"{path}{'non_field_errors' if field == NON_FIELD_ERRORS else field}", messages)


def _add_rows(errors: dict, path: str, row_errors: dict) -> None:
    for index, fields in row_errors.items():
        for field, messages in fields.items():
            _add(errors, f"{path}[{index}].{field}", messages)


def _by_id(model, items: list[dict], existing: dict, path: str, what: str, errors: dict) -> tuple[list, list]:
    """Rows for `items`: an item with an id changes that existing row, one without is new. Returns (rows, removed)."""
    rows, kept = [], set()
    for index, item in enumerate(items):
        item = dict(item)
        row_id = item.pop("id", None)
        if row_id is None:
            row = model()
        elif row_id in existing and row_id not in kept:
            row = existing[row_id]
            kept.add(row_id)
        else:
            _add(errors, f"{path}[{index}].id", [NO_SUCH_ROW % {"what": what, "id": row_id}])
            row = model()
        for field, value in item.items():
            setattr(row, field, value)
        rows.append(row)
    return rows, [row for pk, row in existing.items() if pk not in kept]


def _merchant_errors(user, body: dict, campaign: Campaign | None) -> tuple[Merchant | None, dict]:
    """Whose campaign: a new one is the staff member's merchant's (operators choose, null = platform campaign);
    an existing one keeps its merchant."""
    if campaign is not None:
        if "merchant" in body and getattr(body["merchant"], "pk", None) != campaign.merchant_id:
            return campaign.merchant, {"merchant": [str(MERCHANT_FIXED)]}
        return campaign.merchant, {}
    if is_platform_operator(user):
        return body.get("merchant"), {}
    own = merchant_of(user)
    if "merchant" in body and getattr(body["merchant"], "pk", None) != own.pk:
        return own, {"merchant": [str(MERCHANT_IS_YOURS)]}
    return own, {}


def campaign_save(*, user, data, campaign: Campaign | None = None) -> Campaign:
    """Create (campaign=None, in draft) or replace a campaign with its nested rules, in one transaction: everything
    is validated before anything is written, and every changed row is recorded in the rule history."""
    if not isinstance(data, dict):
        raise ValidationError({"non_field_errors": [_("Send a JSON object.")]})
    parsed = CampaignInput(data=data)
    if not parsed.is_valid():
        raise ValidationError(_flat(parsed.errors))
    body = parsed.validated_data

    with transaction.atomic():
        if campaign is None:
            merchant, errors = _merchant_errors(user, body, None)
            campaign = Campaign(merchant=merchant, status=Campaign.Status.DRAFT)
            before: dict = {}
            earn_existing, windows_existing, rates_existing, rebate = {}, {}, {}, None
        else:
            campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
            _merchant, errors = _merchant_errors(user, body, campaign)
            before = campaign_rules_snapshot(campaign)
            earn_existing = {r.pk: r for r in EarnRule.objects.filter(campaign=campaign)}
            windows_existing = {w.pk: w for w in MultiplierWindow.objects.filter(campaign=campaign)}
            rates_existing = {c.category: c for c in CategoryRate.objects.filter(campaign=campaign)}
            rebate = RebateRule.objects.filter(campaign=campaign).first()

        for field in CAMPAIGN_FIELDS:
            setattr(campaign, field, body[field])
        _full_clean(campaign, "", errors)

        earn_rules, earn_removed = _by_id(
            EarnRule, body["earn_rules"], earn_existing, "earn_rules", "earn rule", errors
        )
        for index, rule in enumerate(earn_rules):
            rule.campaign = campaign
            _full_clean(rule, f"earn_rules[{index}].", errors, exclude=["campaign"])

        rebate_removed = None
        if body["rebate_rule"] is None:
            rebate_removed, rebate = rebate, None
            if campaign.status in (Campaign.Status.ACTIVE, Campaign.Status.PAUSED):
                _add(errors, "rebate_rule", [NEEDS_REBATE_RULE])
        else:
            rebate = rebate or RebateRule()
            for field, value in body["rebate_rule"].items():
                setattr(rebate, field, value)
            rebate.campaign = campaign
            _full_clean(rebate, "rebate_rule.", errors, exclude=["campaign"])

        rates, kept = [], set()
        for index, item in enumerate(body["category_rates"]):
            existing = rates_existing.get(item["category"])
            rate = existing if existing is not None and existing.pk not in kept else CategoryRate()
            kept.add(rate.pk)
            for field, value in item.items():
                setattr(rate, field, value)
            rate.campaign = campaign
            _full_clean(rate, f"category_rates[{index}].", errors, exclude=["campaign"])
            rates.append(rate)
        rates_removed = [c for c in rates_existing.values() if c.pk not in kept]
        _add_rows(errors, "category_rates", category_rates_duplicate([c.category for c in rates]))

        windows, windows_removed = _by_id(
            MultiplierWindow, body["multiplier_windows"], windows_existing, "multiplier_windows", "window", errors
        )
        for index, window in enumerate(windows):
            window.campaign = campaign
            _full_clean(window, f"multiplier_windows[{index}].", errors, exclude=["campaign"])
        _add_rows(errors, "multiplier_windows", multiplier_windows_overlap([(w.starts_at, w.ends_at) for w in windows]))

        if errors:
            raise ValidationError(errors)

        # Removals first: a rule that issued packets is protected, and then nothing at all is written.
        for rule in earn_removed:
            try:
                rule.delete()
            except ProtectedError:
                _add(errors, "earn_rules", [RULE_IN_USE % {"id": rule.pk}])
        if errors:
            raise ValidationError(errors)
        for row in [*rates_removed, *windows_removed, *([rebate_removed] if rebate_removed else [])]:
            row.delete()

        if campaign.pk is None:
            campaign.save()
        else:
            campaign.save(update_fields=CAMPAIGN_FIELDS)
        for row in [*earn_rules, *([rebate] if rebate else []), *rates, *windows]:
            row.save()

        campaign_changes_record(campaign=campaign, actor=user, before=before, after=campaign_rules_snapshot(campaign))
    return campaign


# --- examples ----------------------------------------------------------------------------------------------------

SEED_CAMPAIGN = {
    "name": "Spring two-way rebate",
    "description": "Spend 200 or more, get a 10.00 red packet; use it on 50 or more.",
    "starts_at": "2026-03-01T00:00:00+08:00",
    "ends_at": "2026-04-01T00:00:00+08:00",
    "regions": ["广东/深圳"],
    "per_user_limit": 3,
    "daily_budget_cap": "5000.00",
    "earn_rules": [
        {"trigger": "purchase", "threshold_amount": "200.00", "packet_amount": "10.00", "min_spend": "50.00"}
    ],
    "rebate_rule": {"issuer_rate": "10.00", "holder_rate": "5.00", "base": "gross", "holder_form": "cash"},
    "category_rates": [{"category": "fruit", "issuer_rate": None, "holder_rate": "8.00"}],
    "multiplier_windows": [
        {"starts_at": "2026-03-08T00:00:00+08:00", "ends_at": "2026-03-09T00:00:00+08:00", "factor": "2.00"}
    ],
}
SEED_CAMPAIGN_OUT = {
    "id": 12,
    "merchant": 3,
    "status": "draft",
    "status_reason": "",
    **{k: v for k, v in SEED_CAMPAIGN.items() if k not in {"earn_rules", "rebate_rule", "multiplier_windows"}},
    "participants": "merchant_consumer",
    "user_scope": "all",
    "segments": [],
    "packet_limit": 0,
    "allow_stacking": False,
    "hold_days": 0,
    "refund_packet_policy": "reissue",
    "packets_issued": 0,
    "created_at": "2026-02-20T10:00:00+08:00",
    "earn_rules": [
        {
            "id": 31,
            "trigger": "purchase",
            "threshold_amount": "200.00",
            "packet_amount": "10.00",
            "tiers": "",
            "valid_days": 30,
            "min_spend": "50.00",
            "allowed_categories": [],
            "denied_categories": [],
        }
    ],
    "rebate_rule": {
        "issuer_mode": "rate",
        "issuer_rate": "10.00",
        "issuer_fixed": "0.00",
        "issuer_cap": None,
        "holder_mode": "rate",
        "holder_rate": "5.00",
        "holder_fixed": "0.00",
        "holder_cap": None,
        "base": "gross",
        "holder_form": "cash",
        "points_per_cny": 100,
        "issuer_funding": "campaign_budget",
        "holder_funding": "campaign_budget",
    },
    "multiplier_windows": [
        {"id": 5, "starts_at": "2026-03-08T00:00:00+08:00", "ends_at": "2026-03-09T00:00:00+08:00", "factor": "2.00"}
    ],
}
INVALID_EXAMPLE = OpenApiExample(
    "Invalid rules",
    value={
        "code": "invalid",
        "message": "The request is invalid; see details.",
        "details": {
            "ends_at": ["The end must be after the start."],
            "earn_rules[0].packet_amount": ["The packet amount must be positive."],
            "rebate_rule.issuer_rate": ["A rate must be between 0 and 100 %."],
            "multiplier_windows[1].starts_at": ["Multiplier windows must not overlap: a moment has one multiplier."],
        },
    },
    response_only=True,
    status_codes=["400"],
)
NOT_A_MERCHANT_EXAMPLE = OpenApiExample(
    "Not merchant staff",
    value={
        "code": "not_a_merchant",
        "message": "Only merchant staff and platform operators manage campaigns.",
        "details": {},
    },
    response_only=True,
    status_codes=["403"],
)
NOT_FOUND_EXAMPLE = OpenApiExample(
    "Unknown or another merchant's campaign",
    value={"code": "not_found", "message": "Not found.", "details": {}},
    response_only=True,
    status_codes=["404"],
)
UNAUTHENTICATED_EXAMPLE = OpenApiExample(
    "No token",
    value={"code": "not_authenticated", "message": "Authentication credentials were not provided.", "details": {}},
    response_only=True,
    status_codes=["401"],
)
COMMON_EXAMPLES = [UNAUTHENTICATED_EXAMPLE, NOT_A_MERCHANT_EXAMPLE]
WRITE_DESCRIPTION = (
    "Nested rules are replaced as a whole, atomically: earn rules and multiplier windows listed with their `id` are "
    "changed in place, listed without an id are created, not listed are removed (an earn rule that issued packets "
    "cannot be removed); category rates are matched by category. Validation is the admin's: each row's "
    "`full_clean()` plus the checks across rows (overlapping multiplier windows, a category rated twice). Errors "
    "name the field by path, e.g. `earn_rules[0].packet_amount`. Money and rates are plain decimal strings; JSON "
    "numbers are refused. Every change is recorded in the rule history (`/changes/`)."
)


# --- views -------------------------------------------------------------------------------------------------------


class CampaignListApi(CampaignStaffOnly, ListAPIView):
    serializer_class = CampaignOutput

    @extend_schema(
        operation_id="campaigns_list",
        summary="Campaigns: a merchant's own, or all for platform operators",
        parameters=[OpenApiParameter("status", str, enum=Campaign.Status.values)],
        responses={200: CampaignOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
        examples=[*COMMON_EXAMPLES],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        qs = campaigns_visible_to(self.request.user)
        wanted = self.request.query_params.get("status")
        if wanted:
            if wanted not in Campaign.Status.values:
                raise ApplicationError(
                    _("Unknown status %(status)s.") % {"status": repr(wanted)}, code="invalid_filter"
                )
            qs = qs.filter(status=wanted)
        return qs

    @extend_schema(
        operation_id="campaigns_create",
        summary="Create a campaign (in draft) with its earn rules, rebate rule, category rates and windows",
        description=WRITE_DESCRIPTION,
        request=CampaignInput,
        responses={201: CampaignOutput, 400: ERROR, 401: ERROR, 403: ERROR},
        examples=[
            OpenApiExample("The seed's two-way campaign", value=SEED_CAMPAIGN, request_only=True),
            OpenApiExample("Created", value=SEED_CAMPAIGN_OUT, response_only=True, status_codes=["201"]),
            INVALID_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def post(self, request):
        campaign = campaign_save(user=request.user, data=request.data)
        return Response(
            CampaignOutput(campaigns_visible_to(request.user).get(pk=campaign.pk)).data, status=status.HTTP_201_CREATED
        )


class CampaignDetailApi(CampaignStaffOnly, APIView):
    def _campaign(self, request, campaign_id: int) -> Campaign:
        return get_object_or_404(campaigns_visible_to(request.user), pk=campaign_id)

    def _replace(self, request, data, campaign: Campaign) -> Response:
        campaign_save(user=request.user, data=data, campaign=campaign)
        return Response(CampaignOutput(self._campaign(request, campaign.pk)).data)

    @extend_schema(
        operation_id="campaigns_retrieve",
        summary="A campaign with its rules",
        responses={200: CampaignOutput, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample("The seed's campaign", value=SEED_CAMPAIGN_OUT, response_only=True, status_codes=["200"]),
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def get(self, request, campaign_id: int):
        return Response(CampaignOutput(self._campaign(request, campaign_id)).data)

    @extend_schema(
        operation_id="campaigns_update",
        summary="Replace a campaign's configuration and rules",
        description=WRITE_DESCRIPTION + " The status is changed through `/status/`; the merchant never changes.",
        request=CampaignInput,
        responses={200: CampaignOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample("The seed's campaign", value=SEED_CAMPAIGN, request_only=True),
            INVALID_EXAMPLE,
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def put(self, request, campaign_id: int):
        return self._replace(request, request.data, self._campaign(request, campaign_id))

    @extend_schema(
        operation_id="campaigns_partial_update",
        summary="Change some of a campaign's fields; a nested list sent replaces that list",
        description=WRITE_DESCRIPTION + " Fields left out keep their values; a nested list left out is kept as is; "
        "`rebate_rule` fields are merged into the current rule (`null` removes it; refused when active or paused).",
        request=CampaignInput,
        responses={200: CampaignOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample(
                "Raise the holder's rate",
                value={"rebate_rule": {"holder_rate": "6.00"}},
                request_only=True,
            ),
            INVALID_EXAMPLE,
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def patch(self, request, campaign_id: int):
        campaign = self._campaign(request, campaign_id)
        if not isinstance(request.data, dict):
            raise ValidationError({"non_field_errors": [_("Send a JSON object.")]})
        current = dict(CampaignOutput(campaign).data)
        current.pop("merchant")  # only compared when the caller sends it
        merged = {**current, **request.data}
        if isinstance(request.data.get("rebate_rule"), dict) and current["rebate_rule"]:
            merged["rebate_rule"] = {**current["rebate_rule"], **request.data["rebate_rule"]}
        return self._replace(request, merged, campaign)


class CampaignStatusApi(CampaignStaffOnly, APIView):
    class StatusInput(serializers.Serializer):
        status = serializers.ChoiceField(
            choices=[Campaign.Status.ACTIVE, Campaign.Status.PAUSED, Campaign.Status.ENDED]
        )
        reason = serializers.CharField(max_length=200, allow_blank=True, default="")

    @extend_schema(
        operation_id="campaigns_set_status",
        summary="Activate, pause or end a campaign",
        description="draft → active | ended; active → paused | ended; paused → active | ended; ended is final. "
        "Any other move is a 409 `campaign_bad_transition`; activating without a rebate rule is a 400 "
        "`campaign_incomplete`. Ending expires unspent packets and returns the budget to its funder.",
        request=StatusInput,
        responses={200: CampaignOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR, 409: ERROR},
        examples=[
            OpenApiExample("Go live", value={"status": "active"}, request_only=True),
            OpenApiExample(
                "Bad transition",
                value={
                    "code": "campaign_bad_transition",
                    "message": "A campaign cannot go from ended to active.",
                    "details": {},
                },
                response_only=True,
                status_codes=["409"],
            ),
            OpenApiExample(
                "No rebate rule",
                value={
                    "code": "campaign_incomplete",
                    "message": "A campaign needs a rebate rule before it can go live.",
                    "details": {},
                },
                response_only=True,
                status_codes=["400"],
            ),
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def post(self, request, campaign_id: int):
        campaign = get_object_or_404(campaigns_visible_to(request.user), pk=campaign_id)
        data = self.StatusInput(data=request.data)
        if not data.is_valid():
            raise ValidationError(_flat(data.errors))
        campaign_change_status(user=request.user, campaign=campaign, **data.validated_data)
        return Response(CampaignOutput(campaigns_visible_to(request.user).get(pk=campaign_id)).data)


class SimulationInput(serializers.Serializer):
    class SimulationLine(serializers.Serializer):
        category = serializers.CharField(max_length=50)
        quantity = serializers.IntegerField(min_value=1, max_value=100_000)
        unit_price = MoneyField(positive=True)

    class SimulationShopper(serializers.Serializer):
        prior_orders = serializers.IntegerField(min_value=0, default=0)
        segments = serializers.ListField(child=serializers.CharField(max_length=40), default=list, max_length=50)
        province = serializers.CharField(max_length=32, allow_blank=True, default="")
        city = serializers.CharField(max_length=32, allow_blank=True, default="")

    class SimulationCounters(serializers.Serializer):
        user_packets = serializers.IntegerField(min_value=0, default=0)
        campaign_packets = serializers.IntegerField(min_value=0, default=0)
        spent_today = MoneyField(default=Decimal("0.00"))

    trigger = serializers.ChoiceField(choices=EarnRule.Trigger.choices, default=EarnRule.Trigger.PURCHASE)
    lines = SimulationLine(many=True, default=list, max_length=200)
    shopper = SimulationShopper(required=False)
    province = serializers.CharField(
        max_length=32, allow_blank=True, default="", help_text="The order's region; the shopper's when empty"
    )
    city = serializers.CharField(max_length=32, allow_blank=True, default="")
    at = DateTimeField(required=False, help_text="When the order happens; now when left out")
    draw = serializers.FloatField(
        min_value=0, max_value=0.999999, default=0.0, help_text="Where a weighted tier draw lands, in [0, 1)"
    )
    counters = SimulationCounters(required=False, help_text="Issued so far, to see limits and the daily cap bite")
    referrer_id = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="An inviting user's id: the issuer leg of person→person and referral packets goes to them",
    )
    assume_active = serializers.BooleanField(
        default=False, help_text="Preview a draft or paused campaign as if it were running"
    )
    merchant_id = serializers.IntegerField(
        min_value=1,
        required=False,
        allow_null=True,
        help_text="The merchant the order is placed at; the campaign's own when left out. Another merchant accepts "
        "only a platform campaign's packets (packet.code packet_not_accepted_here)",
    )


class VerdictOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    code = serializers.CharField()
    reason = serializers.CharField()


class EarnDecisionOutput(serializers.Serializer):
    earn_rule_id = serializers.IntegerField()
    fires = serializers.BooleanField()
    amount = serializers.DecimalField(max_digits=14, decimal_places=2)
    code = serializers.CharField(help_text="The first failing check's code; empty when the rule fires")
    reason = serializers.CharField()
    reasons = VerdictOutput(many=True)


class PacketCheckOutput(serializers.Serializer):
    ok = serializers.BooleanField()
    code = serializers.CharField()
    reason = serializers.CharField()
    discount = serializers.DecimalField(max_digits=14, decimal_places=2)


class RebateLegOutput(serializers.Serializer):
    role = serializers.CharField(help_text="issuer | holder")
    amount = serializers.DecimalField(max_digits=14, decimal_places=2, help_text="Cost in CNY")
    currency = serializers.CharField(help_text="What the beneficiary receives: CNY or POINTS")
    units = serializers.CharField(help_text="In `currency`")
    form = serializers.CharField(help_text="cash | points | marketing_credit")
    funding = serializers.CharField(help_text="campaign_budget | platform_pool")
    reason = serializers.CharField()


class SimulationOutput(serializers.Serializer):
    at = DateTimeField()
    campaign_status = serializers.CharField()
    earn = EarnDecisionOutput(many=True, help_text="One decision per earn rule whose trigger matches")
    packet = PacketCheckOutput(
        allow_null=True, help_text="Spending this campaign's (first rule's) packet on the same order"
    )
    rebate_legs = RebateLegOutput(many=True)


class CampaignSimulateApi(CampaignStaffOnly, APIView):
    @extend_schema(
        operation_id="campaigns_simulate",
        summary="What production would do with an order: packets earned, the discount, every rebate leg",
        description="The engine production runs (`campaigns.rules.simulate` over `campaign_spec`), with the reason "
        "for every decision. Nothing is written. A draft or paused campaign earns nothing unless `assume_active`.",
        request=SimulationInput,
        responses={200: SimulationOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample(
                "The seed: a 50.00 order with the 10.00 packet",
                value={
                    "lines": [{"category": "fruit", "quantity": 1, "unit_price": "50.00"}],
                    "shopper": {"prior_orders": 1, "segments": [], "province": "广东", "city": "深圳"},
                    "at": "2026-03-05T12:00:00+08:00",
                },
                request_only=True,
            ),
            OpenApiExample(
                "Merchant 5.00, shopper 2.50",
                value={
                    "at": "2026-03-05T12:00:00+08:00",
                    "campaign_status": "active",
                    "earn": [
                        {
                            "earn_rule_id": 31,
                            "fires": False,
                            "amount": "0.00",
                            "code": "below_threshold",
                            "reason": "campaign running; nationwide; all users; within limits; "
                            "order 50.00 < threshold 200.00",
                            "reasons": [
                                {"ok": True, "code": "", "reason": "campaign running"},
                                {"ok": False, "code": "below_threshold", "reason": "order 50.00 < threshold 200.00"},
                            ],
                        }
                    ],
                    "packet": {"ok": True, "code": "", "reason": "ok", "discount": "10.00"},
                    "rebate_legs": [
                        {
                            "role": "issuer",
                            "amount": "5.00",
                            "currency": "CNY",
                            "units": "5.00",
                            "form": "marketing_credit",
                            "funding": "campaign_budget",
                            "reason": "10.00% of fruit 50.00",
                        },
                        {
                            "role": "holder",
                            "amount": "2.50",
                            "currency": "CNY",
                            "units": "2.50",
                            "form": "cash",
                            "funding": "campaign_budget",
                            "reason": "5.00% of fruit 50.00",
                        },
                    ],
                },
                response_only=True,
                status_codes=["200"],
            ),
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def post(self, request, campaign_id: int):
        get_object_or_404(campaigns_visible_to(request.user), pk=campaign_id)  # ownership: a foreign id is a 404
        data = SimulationInput(data=request.data)
        if not data.is_valid():
            raise ValidationError(_flat(data.errors))
        body = data.validated_data
        campaign = campaign_with_rules(campaign_id)
        spec = campaign_spec(campaign)
        if body["assume_active"]:
            spec = replace(spec, status=Campaign.Status.ACTIVE.value)
        shopper = body.get("shopper") or {}
        counters = body.get("counters") or {}
        event = Event(
            trigger=body["trigger"],
            at=body.get("at") or timezone.now(),
            shopper=ShopperFacts(
                prior_orders=shopper.get("prior_orders", 0),
                segments=frozenset(shopper.get("segments", ())),
                region=Region(shopper.get("province", ""), shopper.get("city", "")),
            ),
            lines=tuple(CartLine(line["category"], line["quantity"], line["unit_price"]) for line in body["lines"]),
            region=Region(body["province"], body["city"]),
            merchant_id=body.get("merchant_id"),
            draw=body["draw"],
            counters=Counters(**counters),
        )
        result = simulate(
            spec, event, issuer_merchant_id=campaign.merchant_id, issuer_user_id=body.get("referrer_id") or None
        )
        return Response(
            SimulationOutput(
                {
                    "at": event.at,
                    "campaign_status": spec.status,
                    "earn": result.earn,
                    "packet": result.packet,
                    "rebate_legs": result.legs,
                }
            ).data
        )


class CampaignChangesApi(CampaignStaffOnly, ListAPIView):
    serializer_class = RuleChangeOutput

    @extend_schema(
        operation_id="campaigns_changes_list",
        summary="The rule history: who changed what, when, from what to what",
        responses={200: RuleChangeOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=[
            OpenApiExample(
                "Holder rate raised",
                value={
                    "id": 7,
                    "at": "2026-03-02T09:30:00+08:00",
                    "actor": "manager1",
                    "target": "rebate_rule",
                    "changes": {"holder_rate": {"before": "5.00", "after": "6.00"}},
                },
                response_only=True,
                status_codes=["200"],
            ),
            NOT_FOUND_EXAMPLE,
            *COMMON_EXAMPLES,
        ],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return RuleChange.objects.none()
        campaign = get_object_or_404(campaigns_visible_to(self.request.user), pk=self.kwargs["campaign_id"])
        return RuleChange.objects.filter(campaign=campaign).select_related("actor")
