"""Payouts in admin: read-only (services move money), with one action to retry stuck or failed attempts.

Registered on import; `rebates/admin.py` imports this module."""

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.admin import ReadOnlyAdmin

from .models import Payout, WechatOpenId
from .services import payouts_retry


class PayoutAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "out_bill_no",
        "beneficiary",
        "amount",
        "channel",
        "status",
        "wechat_state",
        "attempts",
        "next_attempt_at",
        "created_at",
        "completed_at",
    )
    list_filter = ("status", "channel", "wechat_state")
    search_fields = ("out_bill_no", "transfer_bill_no", "beneficiary__phone", "beneficiary__username")
    list_select_related = ("beneficiary",)
    readonly_fields = (
        "beneficiary",
        "amount",
        "channel",
        "status",
        "out_bill_no",
        "openid",
        "attempts",
        "last_error",
        "next_attempt_at",
        "transfer_bill_no",
        "wechat_state",
        "package_info",
        "fail_reason",
        "created_at",
        "updated_at",
        "completed_at",
    )
    actions = ("retry_payouts",)

    def has_retry_permission(self, request):
        return request.user.has_perm("rebates.change_payout")

    @admin.action(description=_("Retry failed payout attempts now (queries WeChat first)"), permissions=["retry"])
    def retry_payouts(self, request, queryset):
        queued, skipped = payouts_retry(payout_ids=queryset.values_list("pk", flat=True))
        if queued:
            self.message_user(
                request,
                ngettext("%d payout queued for a new attempt.", "%d payouts queued for a new attempt.", len(queued))
                % len(queued),
                messages.SUCCESS,
            )
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%d payout is already finished (succeeded or refunded) and was left alone.",
                    "%d payouts are already finished (succeeded or refunded) and were left alone.",
                    len(skipped),
                )
                % len(skipped),
                messages.WARNING,
            )


class WechatOpenIdAdmin(admin.ModelAdmin):
    list_display = ("user", "appid", "openid", "created_at")
    search_fields = ("user__phone", "user__username", "openid")
    raw_id_fields = ("user",)


# Safe to import twice (tests import it directly; rebates/admin.py imports it too).
if not admin.site.is_registered(Payout):
    admin.site.register(Payout, PayoutAdmin)
if not admin.site.is_registered(WechatOpenId):
    admin.site.register(WechatOpenId, WechatOpenIdAdmin)
