"""GET /api/v1/campaigns/{id}/report/ and /api/v1/reports/campaigns/: the evaluation report (docs/REPORTS.md)."""

import re

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.generics import GenericAPIView, ListAPIView
from rest_framework.response import Response

from accounts.selectors import scoped_to_merchant
from campaigns.api import CampaignStaffOnly
from campaigns.models import Campaign
from common.api import ERROR
from common.errors import ApplicationError

from . import errors
from .periods import period_from_query
from .selectors import campaign_report

MAX_IDS = 50
# 1 to MAX_IDS ids (at most 18 digits each: a bigint) separated by commas, as get_queryset reads them.
IDS = {"type": "string", "pattern": f"^ *[0-9]{{1,18}} *( *, *[0-9]{{1,18}} *){{0,{MAX_IDS - 1}}}$"}
MONEY = {"help_text": "CNY, a decimal string with two places"}
RATIO = {"allow_null": True, "help_text": "A ratio to four places (0.2500 = 25 %); null when its base is zero"}


def _money(**kwargs):
    return serializers.CharField(**{**MONEY, **kwargs})


def _ratio(help_text: str = ""):
    return serializers.CharField(**{**RATIO, **({"help_text": help_text} if help_text else {})})


class CountValue(serializers.Serializer):
    count = serializers.IntegerField()
    value = _money()


class Breakdown(serializers.Serializer):
    value = serializers.CharField(help_text="The breakdown's value: an amount, a trigger, a channel, a province")
    label = serializers.CharField()
    issued = CountValue()
    used = CountValue()
    usage_rate = _ratio()
    sales_driven = _money()
    cashback = _money(help_text="Rebate legs net of their reversals")


class Breakdowns(serializers.Serializer):
    tier = Breakdown(many=True, help_text="By packet amount")
    trigger = Breakdown(many=True, help_text="By earn trigger (or the channel of a packet no rule earned)")
    channel = Breakdown(many=True, help_text="By issuance channel (a poster's channel tag as typed)")
    province = Breakdown(many=True, help_text="By province of the earning or spending order")


class ReportOutput(serializers.Serializer):
    class CampaignRef(serializers.Serializer):
        id = serializers.IntegerField()
        name = serializers.CharField()
        merchant_id = serializers.IntegerField(allow_null=True, help_text="null: a platform campaign")

    class Activity(serializers.Serializer):
        active_shoppers = serializers.IntegerField(help_text="Distinct shoppers who ordered at the merchant")
        active_shoppers_before = serializers.IntegerField(help_text="The same in the equal-length period before")
        orders_per_shopper = _ratio()
        orders_per_shopper_before = _ratio()
        orders_lift = _ratio("orders_per_shopper ÷ orders_per_shopper_before")
        sales_per_shopper = _ratio()
        sales_per_shopper_before = _ratio()
        sales_lift = _ratio("sales_per_shopper ÷ sales_per_shopper_before")

    class Packets(serializers.Serializer):
        issued = CountValue()
        claimed = CountValue()
        used = CountValue()
        expired = CountValue()
        usage_rate = _ratio("used.count ÷ issued.count")

    class Cashback(serializers.Serializer):
        class ByForm(serializers.Serializer):
            cash = _money()
            points = _money(help_text="What the points cost their funder, CNY")
            coupon = _money()
            marketing_credit = _money()

        issuer = _money(help_text="Issuer legs (to the merchant or person who issued the packet)")
        holder = _money(help_text="Holder legs (to the shopper who spent it)")
        program_rewards = _money(help_text="Referral rewards of the campaign's referral program")
        reversed = _money(help_text="Taken back by refunds and review decisions")
        net = _money(help_text="issuer + holder + program_rewards − reversed")
        by_form = ByForm()

    class SalesChange(serializers.Serializer):
        current = _money()
        previous = _money()
        change = _ratio("current ÷ previous − 1")

    class CategoryShare(serializers.Serializer):
        category = serializers.CharField()
        sales = _money()
        share = _ratio()

    class Day(serializers.Serializer):
        day = serializers.DateField()
        issued_count = serializers.IntegerField()
        issued_value = _money()
        used_count = serializers.IntegerField()
        used_value = _money()
        cashback = _money()
        sales_driven = _money()

    campaign = CampaignRef()
    # DRF's serializers name `from` only through a source; the key is "from".
    from_ = serializers.DateField(help_text="First day of the range (Asia/Shanghai)")
    to = serializers.DateField(help_text="Last day of the range, included")
    days = serializers.IntegerField()
    participants = serializers.IntegerField(help_text="Distinct shoppers who earned, claimed or spent a packet")
    new_signups = serializers.IntegerField(help_text="Accounts the campaign brought (registration, referral, claim)")
    activity_lift = Activity()
    packets = Packets()
    cashback = Cashback()
    sales_driven = _money(help_text="Gross of the orders that spent a packet of the campaign")
    packet_value_spent = _money(help_text="Discounts the campaign's packets paid")
    cost = _money(help_text="packet_value_spent + cashback.net")
    roi = _ratio("sales_driven ÷ cost")
    breakdowns = Breakdowns()
    merchant_sales = _money(help_text="The merchant's gross sales in the range (every merchant's for a platform one)")
    sales_yoy = SalesChange()
    sales_mom = SalesChange()
    category_shares = CategoryShare(many=True)
    daily = Day(many=True)


ReportOutput._declared_fields["from"] = ReportOutput._declared_fields.pop("from_")


# A day as the parser reads it: a calendar date from 2000 to 2100.
DAY = {"type": "string", "format": "date", "pattern": "^(20[0-9]{2}|2100)-[0-9]{2}-[0-9]{2}$"}
RANGE_PARAMETERS = [
    OpenApiParameter("from", DAY, description="YYYY-MM-DD, first day (default: REPORT_DEFAULT_DAYS before `to`)"),
    OpenApiParameter("to", DAY, description="YYYY-MM-DD, last day, included (default: today)"),
]

ERROR_EXAMPLES = [
    OpenApiExample(
        "Not a date",
        value={
            "code": "invalid_date",
            "message": "from must be a date written YYYY-MM-DD, from 2000 to 2100.",
            "details": {"from": "2026-13-01"},
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "Too long",
        value={
            "code": "date_range_too_long",
            "message": "A report covers at most 366 days.",
            "details": {"max_days": 366, "days": 400},
        },
        response_only=True,
        status_codes=["400"],
    ),
    OpenApiExample(
        "Unknown or another merchant's campaign",
        value={"code": "not_found", "message": "Not found.", "details": {}},
        response_only=True,
        status_codes=["404"],
    ),
]
DESCRIPTION = (
    "Days are Asia/Shanghai calendar days. Error codes: `invalid_date` (not YYYY-MM-DD, or outside 2000–2100), "
    "`invalid_date_range` (from after to), `date_range_too_long` (over REPORT_MAX_DAYS). Every figure is defined in "
    "docs/REPORTS.md; the report reads the rollups the workers keep (a few seconds behind the raw rows)."
)


def _visible_campaigns(user):
    return scoped_to_merchant(Campaign.objects.all(), user, "merchant")


class CampaignReportApi(CampaignStaffOnly, GenericAPIView):
    serializer_class = ReportOutput

    @extend_schema(
        operation_id="campaigns_report",
        summary="A campaign's evaluation report over a range of days",
        description=DESCRIPTION,
        parameters=RANGE_PARAMETERS,
        responses={200: ReportOutput, 400: ERROR, 401: ERROR, 403: ERROR, 404: ERROR},
        examples=ERROR_EXAMPLES,
    )
    def get(self, request, campaign_id: int):
        period = period_from_query(request.query_params)
        campaign = get_object_or_404(_visible_campaigns(request.user), pk=campaign_id)
        return Response(ReportOutput(campaign_report(campaign=campaign, period=period)).data)


class CampaignReportsApi(CampaignStaffOnly, ListAPIView):
    serializer_class = ReportOutput

    @extend_schema(
        operation_id="reports_campaigns",
        summary="The evaluation reports of several campaigns over one range of days",
        description=DESCRIPTION
        + f" `ids`: campaign ids separated by commas (at most {MAX_IDS}); without it, every campaign you can see, "
        "newest first, a page at a time (`limit`, `offset`). An id you cannot see is left out. "
        "`invalid_ids`: more ids, or something else than ids.",
        parameters=[*RANGE_PARAMETERS, OpenApiParameter("ids", IDS, description="e.g. 3,7,12")],
        responses={200: ReportOutput(many=True), 400: ERROR, 401: ERROR, 403: ERROR},
        examples=ERROR_EXAMPLES[:2],
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        campaigns = _visible_campaigns(self.request.user).order_by("-pk")
        raw_ids = self.request.query_params.get("ids")
        if raw_ids is None:
            return campaigns
        # ASCII digits only: str.isdigit() also takes "²", which int() then refuses.
        parts = [part.strip(" ") for part in raw_ids.split(",")]
        if len(parts) > MAX_IDS or not all(re.fullmatch("[0-9]{1,18}", part) for part in parts):
            raise ApplicationError(
                errors.TOO_MANY_CAMPAIGNS % {"max": MAX_IDS}, code="invalid_ids", details={"ids": raw_ids[:200]}
            )
        return campaigns.filter(pk__in=[int(part) for part in parts])

    def list(self, request, *args, **kwargs):
        period = period_from_query(request.query_params)  # before a page is read: a bad range is a 400 at once
        page = self.paginate_queryset(self.get_queryset())
        reports = [campaign_report(campaign=campaign, period=period) for campaign in page]
        return self.get_paginated_response(ReportOutput(reports, many=True).data)
