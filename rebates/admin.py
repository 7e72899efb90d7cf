from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from common.admin import MerchantScopedReadOnlyAdmin, ReadOnlyAdmin

from .models import Entry, LedgerAccount, LedgerTransaction, OutboxEvent, Rebate
from .payouts import admin as payouts_admin  # noqa: F401 — registers the payout admins
from .webhooks import admin as webhooks_admin  # noqa: F401 — registers the webhook admins


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "currency", "user", "merchant", "campaign", "balance_shown")
    list_filter = ("kind", "currency")
    search_fields = ("user__phone", "merchant__name", "campaign__name")
    list_select_related = ("user", "merchant", "campaign")

    @admin.display(description=_("balance"))
    def balance_shown(self, obj):
        return obj.balance


class EntryInline(admin.TabularInline):
    model = Entry
    extra = 0
    can_delete = False
    readonly_fields = ("account", "amount")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LedgerTransaction)
class LedgerTransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "kind", "reference", "idempotency_key", "created_at")
    list_filter = ("kind",)
    search_fields = ("reference", "idempotency_key")
    inlines = (EntryInline,)


@admin.register(Rebate)
class RebateAdmin(MerchantScopedReadOnlyAdmin):
    merchant_path = "redemption__order__merchant"
    list_display = ("redemption", "role", "beneficiary_user", "beneficiary_merchant", "amount", "currency", "status")
    list_filter = ("role", "status", "form")
    list_select_related = ("redemption", "beneficiary_user", "beneficiary_merchant")


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyAdmin):
    list_display = ("topic", "ref_id", "created_at", "published_at", "attempts", "done_at")
    list_filter = ("topic",)
