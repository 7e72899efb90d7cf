"""The campaign manager's console. Every change goes through campaigns.services; money only through the ledger."""

import uuid
from decimal import Decimal

from django import forms
from django.contrib import admin, messages
from django.forms.models import BaseInlineFormSet
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from accounts.selectors import is_platform_operator, merchant_of, scoped_to_merchant
from antifraud.admin import RiskPolicyInline  # platform operators only
from common.admin import StrictFieldsMixin
from common.errors import ApplicationError
from common.forms import MoneyFormField
from common.money import format_cny

from . import services
from .admin_batch import BatchAdminMixin
from .forms import SimulatorForm
from .history import campaign_changes_record, campaign_rules_snapshot
from .models import Campaign, CategoryRate, EarnRule, MultiplierWindow, RebateRule
from .rules import simulate
from .selectors import (
    budget_burn_down,
    campaign_budget_account,
    campaign_counters,
    campaign_outstanding_account,
    campaign_reserve_account,
    campaign_spec,
    campaign_with_rules,
)
from .validation import category_rates_duplicate, multiplier_windows_overlap


class MerchantScopedAdmin(StrictFieldsMixin, admin.ModelAdmin):
    """Merchant staff see and change only their merchant's rows; platform operators see all."""

    merchant_path = "merchant"

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, self.merchant_path)


class EarnRuleInline(StrictFieldsMixin, admin.StackedInline):
    model = EarnRule
    extra = 0
    fields = (
        ("trigger", "threshold_amount"),
        ("packet_amount", "tiers"),
        ("min_spend", "valid_days"),
        ("allowed_categories", "denied_categories"),
    )


class RebateRuleInline(StrictFieldsMixin, admin.StackedInline):
    model = RebateRule
    can_delete = False
    fields = (
        ("issuer_mode", "issuer_rate", "issuer_fixed", "issuer_cap", "issuer_funding"),
        ("holder_mode", "holder_rate", "holder_fixed", "holder_cap", "holder_funding"),
        ("base", "holder_form", "points_per_cny"),
    )


def _live_rows(formset) -> list:
    return [f for f in formset.forms if getattr(f, "cleaned_data", None) and not f.cleaned_data.get("DELETE")]


def _attach(rows, errors: dict) -> None:
    for index, fields in errors.items():
        for field, problems in fields.items():
            rows[index].add_error(field, problems)


class MultiplierWindowFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        rows = _live_rows(self)
        _attach(
            rows,
            multiplier_windows_overlap(
                [(f.cleaned_data.get("starts_at"), f.cleaned_data.get("ends_at")) for f in rows]
            ),
        )


class CategoryRateFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        rows = _live_rows(self)
        _attach(rows, category_rates_duplicate([f.cleaned_data.get("category") for f in rows]))


class CategoryRateInline(StrictFieldsMixin, admin.TabularInline):
    model = CategoryRate
    formset = CategoryRateFormSet
    extra = 0


class MultiplierWindowInline(StrictFieldsMixin, admin.TabularInline):
    model = MultiplierWindow
    formset = MultiplierWindowFormSet
    extra = 0


class FundForm(forms.Form):
    amount = MoneyFormField(label=_("Amount (CNY)"), max_digits=14, decimal_places=2, min_value=Decimal("0.01"))
    from_marketing_credit = forms.BooleanField(
        label=_("Pay from the merchant's marketing credit (rebates it earned) instead of its deposit"), required=False
    )
    token = forms.CharField(widget=forms.HiddenInput)


@admin.register(Campaign)
class CampaignAdmin(BatchAdminMixin, MerchantScopedAdmin):
    list_display = ("name", "merchant", "status", "starts_at", "ends_at", "budget", "status_reason")
    list_filter = ("status", "participants", "merchant")
    search_fields = ("name",)
    inlines = (EarnRuleInline, RebateRuleInline, CategoryRateInline, MultiplierWindowInline, RiskPolicyInline)
    readonly_fields = ("status", "status_reason", "books", "counters", "burn_down", "tools")
    fieldsets = (
        (None, {"fields": ("merchant", "name", "description", "participants", ("starts_at", "ends_at"))}),
        (_("State"), {"fields": ("status", "status_reason", "tools")}),
        (_("Who and where"), {"fields": ("regions", "user_scope", "segments")}),
        (_("Limits"), {"fields": (("per_user_limit", "packet_limit"), "daily_budget_cap", "allow_stacking")}),
        (pgettext_lazy("ledger", "Books"), {"fields": ("books", "counters", "burn_down")}),
    )
    actions = ("activate", "pause", "end")

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if is_platform_operator(request.user):
            return fieldsets
        first = dict(fieldsets[0][1])
        first["fields"] = tuple(f for f in first["fields"] if f != "merchant")
        return ((None, first), *fieldsets[1:])

    def save_model(self, request, obj, form, change):
        # Rules move money: remember them as they were, to record who changed what (save_related).
        request._rules_before = campaign_rules_snapshot(Campaign.objects.get(pk=obj.pk)) if change else {}
        super().save_model(request, obj, form, change)

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        campaign_changes_record(
            campaign=form.instance,
            actor=request.user,
            before=request._rules_before,
            after=campaign_rules_snapshot(form.instance),
        )

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

    @admin.display(description=_("tools"))
    def tools(self, obj):
        if not obj.pk:
            return "-"
        return format_html(
            "<a class='button' href='{}'>{}</a> <a class='button' href='{}' target='_blank'>{}</a>",
            reverse("admin:campaigns_campaign_simulate", args=[obj.pk]),
            _("Simulator"),
            reverse("campaigns:rules", args=[obj.pk]),
            _("Public rules page"),
        )

    @admin.display(description=_("counters"))
    def counters(self, obj):
        if not obj.pk:
            return "-"
        c = campaign_counters(obj)
        return format_html(
            "{}: {} · {}: {} · {}: {} · {}: {} · {}: {} ({}) · {}: {}",
            _("issued"),
            c["issued"],
            _("valid"),
            c["valid"],
            _("used"),
            c["used"],
            _("expired"),
            c["expired"],
            _("rebates credited"),
            c["rebates_credited"],
            format_cny(c["rebates_credited_amount"]),
            _("rebates being computed"),
            c["rebates_pending"],
        )

    @admin.display(description=_("budget burn-down"))
    def burn_down(self, obj):
        if not obj.pk:
            return "-"
        days = budget_burn_down(obj)
        if not days:
            return _("No budget movements yet.")
        peak = max(max(d["balance"] for d in days), Decimal("0.01"))
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><span style='display:inline-block;height:10px;"
            "background:#d93025;width:{}px'></span></td></tr>",
            (
                (d["day"], format_cny(d["spent"]), format_cny(d["balance"]), int(d["balance"] / peak * 200))
                for d in days
            ),
        )
        return format_html(
            "<table><tr><th>{}</th><th>{}</th><th>{}</th><th></th></tr>{}</table>",
            _("day"),
            _("committed"),
            _("balance at end of day"),
            rows,
        )

    def _transition(self, request, queryset, status):
        done = 0
        for campaign in queryset:
            try:
                services.campaign_change_status(user=request.user, campaign=campaign, status=status)
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
            path(
                "<int:pk>/simulate/", self.admin_site.admin_view(self.simulate_view), name="campaigns_campaign_simulate"
            ),
        ]
        return custom + super().get_urls()

    def simulate_view(self, request, pk: int):
        """The simulator runs the production engine on a typed order: same functions, no writes."""
        campaign = get_object_or_404(self.get_queryset(request), pk=pk)
        form = SimulatorForm(request.POST or None)
        result = None
        if request.method == "POST" and form.is_valid():
            spec = campaign_spec(campaign_with_rules(campaign.pk))
            result = simulate(spec, form.event(), issuer_merchant_id=campaign.merchant_id)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Simulator: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "form": form,
            "result": result,
            "opts": self.model._meta,
        }
        return render(request, "admin/campaigns/simulate.html", context)

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
                    from_marketing_credit=form.cleaned_data["from_marketing_credit"],
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


from .programs import admin as programs_admin  # noqa: E402, F401 — registers the program admins
