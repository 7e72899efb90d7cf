"""The campaign manager's console. Every change goes through campaigns.services; money only through the ledger."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from accounts.selectors import is_platform_operator, merchant_of, scoped_to_merchant
from common.errors import ApplicationError
from common.money import format_cny

from . import services
from .models import Campaign, EarnRule, RebateRule
from .selectors import campaign_budget_account, campaign_outstanding_account, campaign_reserve_account


class MerchantScopedAdmin(admin.ModelAdmin):
    """Merchant staff see and change only their merchant's rows; platform operators see all."""

    merchant_path = "merchant"

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, self.merchant_path)


class EarnRuleInline(admin.TabularInline):
    model = EarnRule
    extra = 0
    fields = ("threshold_amount", "packet_amount", "min_spend", "valid_days", "allowed_categories")


class RebateRuleInline(admin.StackedInline):
    model = RebateRule
    can_delete = False
    fields = (
        ("issuer_rate", "holder_rate", "base"),
        ("holder_form", "points_per_cny"),
        ("issuer_funding", "holder_funding"),
    )


class FundForm(forms.Form):
    amount = forms.DecimalField(label=_("Amount (CNY)"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    token = forms.CharField(widget=forms.HiddenInput)


@admin.register(Campaign)
class CampaignAdmin(MerchantScopedAdmin):
    list_display = ("name", "merchant", "status", "starts_at", "ends_at", "budget", "status_reason")
    list_filter = ("status", "merchant")
    search_fields = ("name",)
    inlines = (EarnRuleInline, RebateRuleInline)
    readonly_fields = ("status", "status_reason", "books", "counters")
    fields = ("merchant", "name", "description", "starts_at", "ends_at", "status", "status_reason", "books", "counters")
    actions = ("activate", "pause", "end")

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if not is_platform_operator(request.user):
            fields.remove("merchant")
        return fields

    def save_form(self, request, form, change):
        # Before the inline rules are validated, so they see whose campaign it is.
        campaign = super().save_form(request, form, change)
        if not is_platform_operator(request.user):
            campaign.merchant = merchant_of(request.user)
        return campaign

    @admin.display(description=_("budget"))
    def budget(self, obj):
        return format_cny(campaign_budget_account(obj).balance)

    @admin.display(description=_("books"))
    def books(self, obj):
        if not obj.pk:
            return "-"
        fund_url = reverse("admin:campaigns_campaign_fund", args=[obj.pk])
        return format_html(
            "{}: <b>{}</b> · {}: {} · {}: {} · <a href='{}'>{}</a>",
            _("budget"),
            format_cny(campaign_budget_account(obj).balance),
            _("packets outstanding"),
            format_cny(campaign_outstanding_account(obj).balance),
            _("rebates reserved"),
            format_cny(campaign_reserve_account(obj).balance),
            fund_url,
            _("Fund the budget"),
        )

    @admin.display(description=_("counters"))
    def counters(self, obj):
        if not obj.pk:
            return "-"
        counts = obj.packets.aggregate(
            issued=Count("pk"),
            used=Count("pk", filter=Q(status="used")),
            expired=Count("pk", filter=Q(status="expired")),
        )
        return format_html(
            "{}: {} · {}: {} · {}: {}",
            _("issued"),
            counts["issued"],
            _("used"),
            counts["used"],
            _("expired"),
            counts["expired"],
        )

    def _transition(self, request, queryset, status):
        done = 0
        for campaign in queryset:
            try:
                services.campaign_set_status(campaign=campaign, status=status)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{campaign}: {exc.message}", messages.ERROR)
        if done:
            self.message_user(request, _("%(count)d campaign(s) updated.") % {"count": done}, messages.SUCCESS)

    @admin.action(description=_("Activate selected campaigns"), permissions=["change"])
    def activate(self, request, queryset):
        self._transition(request, queryset, Campaign.Status.ACTIVE)

    @admin.action(description=_("Pause selected campaigns"), permissions=["change"])
    def pause(self, request, queryset):
        self._transition(request, queryset, Campaign.Status.PAUSED)

    @admin.action(description=_("End selected campaigns"), permissions=["change"])
    def end(self, request, queryset):
        self._transition(request, queryset, Campaign.Status.ENDED)

    def get_urls(self):
        custom = [
            path("<int:pk>/fund/", self.admin_site.admin_view(self.fund_view), name="campaigns_campaign_fund"),
        ]
        return custom + super().get_urls()

    def fund_view(self, request, pk: int):
        campaign = get_object_or_404(self.get_queryset(request), pk=pk)
        if not self.has_change_permission(request, campaign):
            return redirect("admin:index")
        form = FundForm(request.POST or None, initial={"token": uuid.uuid4().hex})
        if request.method == "POST" and form.is_valid():
            try:
                # The form's one-time token is the ledger key: a double-submitted form funds once.
                services.campaign_fund(
                    campaign=campaign,
                    amount=form.cleaned_data["amount"],
                    idempotency_key=f"admin-fund:{campaign.pk}:{form.cleaned_data['token']}",
                )
            except ApplicationError as exc:
                form.add_error("amount", exc.message)
            else:
                self.message_user(request, _("Budget funded."), messages.SUCCESS)
                return redirect("admin:campaigns_campaign_change", campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Fund the budget of %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "form": form,
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/fund.html", context)
