"""Campaign reports in the admin: the list of campaigns one may see, each one's report page with charts (Apache
ECharts, vendored in static/vendor/), and its tables exported as CSV or XLSX; and the operations pages: the
customer-service trace, the live monitor, the usage alerts and the failed issuance list."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from accounts.selectors import is_platform_operator, scoped_to_merchant
from common.errors import ApplicationError
from packets.services import REISSUE_RETRYABLE_CODES, packet_reissue_not_issued

from .alerts import alert_acknowledge, alert_pause_campaign
from .errors import InvalidPeriod
from .exports import report_tables, table_csv, tables_xlsx
from .models import Alert, CampaignReport, FailedIssuance, LiveMonitor, OrderTrace
from .operations import live_monitor
from .periods import period_from_query
from .selectors import campaign_report
from .trace import TRACE_MAX_ORDERS, trace_search

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class RangeForm(forms.Form):
    """The range as typed; the rules are reports.periods' (the API's), their messages shown at the field."""

    from_ = forms.CharField(label=_("from"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    to = forms.CharField(label=_("to"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, data, **kwargs):
        super().__init__({"from_": data.get("from", ""), "to": data.get("to", "")}, **kwargs)

    def clean(self):
        try:
            self.period = period_from_query({"from": self.cleaned_data.get("from_"), "to": self.cleaned_data.get("to")})
        except InvalidPeriod as exc:
            self.add_error("from_" if "from" in exc.details and exc.code == "invalid_date" else "to", exc.message)
        return self.cleaned_data


def _chart_data(report: dict) -> dict:
    """What the charts draw (static/js/report-charts.js), with their labels in the page's language."""
    return {
        "labels": {
            "issued": str(_("packets issued")),
            "used": str(_("packets used")),
            "sales": str(_("sales driven")),
            "cashback": str(_("net cashback")),
            "issued_value": str(_("value issued")),
            "used_value": str(_("value used")),
            "current": str(_("this range")),
            "year_before": str(_("a year before")),
            "month_before": str(_("a month before")),
            "yoy": str(_("year on year")),
            "mom": str(_("month on month")),
        },
        "daily": report["daily"],
        "breakdowns": report["breakdowns"],
        "categories": report["category_shares"],
        "sales": {
            "current": report["merchant_sales"],
            "year_before": report["sales_yoy"]["previous"],
            "month_before": report["sales_mom"]["previous"],
        },
    }


@admin.register(CampaignReport)
class CampaignReportAdmin(admin.ModelAdmin):
    list_display = ("name", "merchant", "status", "starts_at", "ends_at", "report_link")
    list_filter = ("status",)
    search_fields = ("name",)

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, "merchant").select_related("merchant")

    # Whoever may see a campaign may see its report; nobody adds, changes or deletes one here.
    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.view_campaign")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("report"))
    def report_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:reports_campaignreport_change", args=[obj.pk]), _("open")
        )

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/change/", view(self.report_view), name="reports_campaignreport_change"),
            path("<int:pk>/export.csv", view(self.csv_view), name="reports_campaignreport_csv"),
            path("<int:pk>/export.xlsx", view(self.xlsx_view), name="reports_campaignreport_xlsx"),
            *super().get_urls(),
        ]

    def _visible_campaign(self, request, pk: int):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def report_view(self, request, pk: int):
        campaign = self._visible_campaign(request, pk)
        form = RangeForm(request.GET)
        report = campaign_report(campaign=campaign, period=form.period) if form.is_valid() else None
        context = {
            **self.admin_site.each_context(request),
            "title": _("Report: %(name)s") % {"name": campaign.name},
            "campaign": campaign,
            "form": form,
            "report": report,
            "tables": report_tables(report) if report else [],
            "charts": _chart_data(report) if report else None,
            "query": request.GET.urlencode(),
            "opts": self.model._meta,
        }
        return render(request, "admin/reports/campaign_report.html", context)

    def _export(self, request, pk: int):
        campaign = self._visible_campaign(request, pk)
        form = RangeForm(request.GET)
        if not form.is_valid():
            return None, None
        return campaign, report_tables(campaign_report(campaign=campaign, period=form.period))

    def csv_view(self, request, pk: int):
        campaign, tables = self._export(request, pk)
        wanted = request.GET.get("table", "summary")
        table = next((t for t in tables or [] if t.name == wanted), None)
        if table is None:
            return HttpResponse(_("No such table, or the range is invalid."), status=400)
        reply = HttpResponse(table_csv(table), content_type="text/csv; charset=utf-8")
        reply["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-{table.name}.csv"'
        return reply

    def xlsx_view(self, request, pk: int):
        campaign, tables = self._export(request, pk)
        if tables is None:
            return HttpResponse(_("No such table, or the range is invalid."), status=400)
        reply = HttpResponse(tables_xlsx(tables), content_type=XLSX)
        reply["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-report.xlsx"'
        return reply


class ReadOnlyPageAdmin(admin.ModelAdmin):
    """An admin entry that is one read-only page (the subclass's `page_view`), shown to whoever holds
    `view_permission`."""

    view_permission = ""

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm(self.view_permission)

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_urls(self):
        # The list page is the only page: no object pages, so no object of another merchant can be reached by id.
        name = f"{self.opts.app_label}_{self.opts.model_name}_changelist"
        return [path("", self.admin_site.admin_view(self.page_view), name=name)]


@admin.register(OrderTrace)
class OrderTraceAdmin(ReadOnlyPageAdmin):
    """Search by order number, shopper phone or packet code; each order found with its whole timeline."""

    view_permission = "packets.view_order"

    def page_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        query = request.GET.get("q", "").strip()[:64]
        traces = trace_search(user=request.user, query=query) if query else []
        context = {
            **self.admin_site.each_context(request),
            "title": _("Customer-service trace"),
            "query": query,
            "traces": traces,
            "searched": bool(query),
            "max_orders": TRACE_MAX_ORDERS,
            "opts": self.model._meta,
        }
        return render(request, "admin/reports/order_trace.html", context)


MONITOR_REFRESH_SECONDS = 15


MONITOR_COLUMNS = (
    ("last_hour", "current"),
    ("last_hour", "week_before"),
    ("today", "current"),
    ("today", "week_before"),
)


def _monitor_rows(figures: dict) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """The activity table: (figure, label in the page's language, [(its path in the JSON, value)] per column); the
    page's script refreshes each cell by its path."""
    labels = [
        ("packets_issued", _("packets issued")),
        ("packets_claimed", _("packets claimed")),
        ("packets_used", _("packets used")),
        ("rebates_credited", _("rebate legs credited")),
        ("rebates_credited_cost", _("rebates credited (CNY)")),
        ("payouts", _("payouts requested")),
        ("payouts_amount", _("payouts requested (CNY)")),
    ]
    windows = figures["windows"]
    return [
        (key, label, [(f"windows.{w}.{c}.{key}", windows[w][c][key]) for w, c in MONITOR_COLUMNS])
        for key, label in labels
    ]


@admin.register(LiveMonitor)
class LiveMonitorAdmin(ReadOnlyPageAdmin):
    """Every campaign's activity now against a week before, and what is waiting: for platform operators (the
    figures span every merchant)."""

    def has_view_permission(self, request, obj=None):
        return request.user.is_active and request.user.is_staff and is_platform_operator(request.user)

    def get_urls(self):
        data = path("data.json", self.admin_site.admin_view(self.data_view), name="reports_livemonitor_data")
        return [data, *super().get_urls()]

    def page_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        figures = live_monitor()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Live monitor"),
            "figures": figures,
            "rows": _monitor_rows(figures),
            "refresh_seconds": MONITOR_REFRESH_SECONDS,
            "opts": self.model._meta,
        }
        return render(request, "admin/reports/live_monitor.html", context)

    def data_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        return JsonResponse(live_monitor())


def _top_html(rows: list[dict]):
    return format_html_join(", ", "{} ({})", ((r["value"], r["count"]) for r in rows)) or "—"


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    """Usage spikes: a manager sees their merchant's campaigns' alerts, acknowledges them, pauses the campaign."""

    list_display = ("window_start", "campaign", "used", "baseline", "factor", "status", "acknowledged_by")
    list_filter = ("status",)
    list_select_related = ("campaign", "acknowledged_by")
    search_fields = ("campaign__name",)
    actions = ("acknowledge", "pause_campaign")
    fields = readonly_fields = (
        "campaign",
        "window_start",
        "window_end",
        "used",
        "baseline",
        "factor",
        "ips",
        "devices",
        "accounts",
        "evidence",
        "status",
        "acknowledged_by",
        "acknowledged_at",
        "notified_at",
        "created_at",
    )

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, "campaign__merchant")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.view_campaign")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_acknowledge_permission(self, request):
        return self.has_view_permission(request)

    def has_pause_permission(self, request):
        return request.user.has_perm("campaigns.change_campaign")

    @admin.display(description=_("top IPs"))
    def ips(self, obj):
        return _top_html(obj.top_ips)

    @admin.display(description=_("top devices"))
    def devices(self, obj):
        return _top_html(obj.top_devices)

    @admin.display(description=_("top accounts"))
    def accounts(self, obj):
        return _top_html(obj.top_accounts)

    @admin.display(description=_("anti-fraud evidence"))
    def evidence(self, obj):
        """The risk assessments of the campaign's redemptions in the window (operators' anti-fraud console)."""
        query = urlencode(
            {
                "campaign__id__exact": obj.campaign_id,
                "subject__exact": "redemption",
                "created_at__gte": obj.window_start.isoformat(),
                "created_at__lt": obj.window_end.isoformat(),
            }
        )
        url = reverse("admin:antifraud_riskassessment_changelist") + "?" + query
        return format_html('<a href="{}">{}</a>', url, _("risk assessments in the window"))

    @admin.action(description=_("Acknowledge the selected alerts"), permissions=["acknowledge"])
    def acknowledge(self, request, queryset):
        for alert in queryset:
            alert_acknowledge(alert=alert, user=request.user)
        self.message_user(request, _("%(n)s alert(s) acknowledged.") % {"n": len(queryset)}, messages.SUCCESS)

    @admin.action(description=_("Pause the selected alerts' campaigns"), permissions=["pause"])
    def pause_campaign(self, request, queryset):
        for alert in queryset.select_related("campaign"):
            campaign = alert_pause_campaign(alert=alert, user=request.user)
            self.message_user(
                request,
                _("Campaign %(name)s: %(status)s.") % {"name": campaign.name, "status": campaign.get_status_display()},
                messages.SUCCESS,
            )


class RetryableFilter(admin.SimpleListFilter):
    title = _("state")
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [
            ("retryable", _("retryable, not re-issued")),
            ("reissued", _("re-issued")),
            ("final", _("not retryable")),
        ]

    def queryset(self, request, queryset):
        if self.value() == "retryable":
            return queryset.filter(reissued_packet__isnull=True, code__in=REISSUE_RETRYABLE_CODES)
        if self.value() == "reissued":
            return queryset.filter(reissued_packet__isnull=False)
        if self.value() == "final":
            return queryset.filter(reissued_packet__isnull=True).exclude(code__in=REISSUE_RETRYABLE_CODES)
        return queryset


@admin.register(FailedIssuance)
class FailedIssuanceAdmin(admin.ModelAdmin):
    """Every packet an order earned but did not get, with its reason; retryable ones (budget, daily cap) are
    re-issued by the sweeper, or here, one or many at once (idempotent)."""

    list_display = ("created_at", "order", "campaign", "amount", "code", "reissued_packet", "reissued_at")
    list_filter = (RetryableFilter, "code")
    list_select_related = ("order", "campaign", "reissued_packet")
    search_fields = ("order__order_no", "campaign__name")
    actions = ("reissue",)
    fields = readonly_fields = ("order", "campaign", "earn_rule", "amount", "code", "reissued_packet", "reissued_at")

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, "campaign__merchant")

    def has_view_permission(self, request, obj=None):
        return request.user.has_perm("campaigns.view_campaign")

    def has_module_permission(self, request):
        return self.has_view_permission(request)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_reissue_permission(self, request):
        return request.user.has_perm("campaigns.change_campaign")

    @admin.action(description=_("Re-issue the selected packets"), permissions=["reissue"])
    def reissue(self, request, queryset):
        issued = refused = 0
        for row in queryset.order_by("pk"):
            try:
                packet = packet_reissue_not_issued(not_issued_id=row.pk)
            except ApplicationError as exc:
                self.message_user(request, f"{row.order}: {exc.message}", messages.WARNING)
                continue
            if packet is None:
                refused += 1
            else:
                issued += 1
        self.message_user(
            request,
            _("%(issued)s packet(s) issued, %(refused)s refused again.") % {"issued": issued, "refused": refused},
            messages.SUCCESS if issued else messages.WARNING,
        )
