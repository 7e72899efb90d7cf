from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from common.admin import MerchantScopedReadOnlyAdmin, ReadOnlyAdmin, StrictFieldsMixin

from .models import CheckIn, Order, OrderLine, Packet, Product, Redemption, Refund
from .store import category_label


@admin.display(description=_("category"), ordering="category")
def category_shown(obj) -> str:
    """The category in the reader's language (the seed's codes have labels; others are shown as typed)."""
    return category_label(obj.category)


class CategoryFilter(admin.SimpleListFilter):
    title = _("category")
    parameter_name = "category"

    def lookups(self, request, model_admin):
        codes = model_admin.get_queryset(request).order_by("category").values_list("category", flat=True).distinct()
        return [(code, category_label(code)) for code in codes]

    def queryset(self, request, queryset):
        return queryset.filter(category=self.value()) if self.value() else queryset


@admin.register(Packet)
class PacketAdmin(MerchantScopedReadOnlyAdmin):
    merchant_path = "campaign__merchant"
    list_display = ("code", "campaign", "holder", "amount", "min_spend", "status", "issued_at", "expires_at")
    list_filter = ("status", "campaign")
    search_fields = ("code", "holder__phone", "holder__username")
    list_select_related = ("campaign", "holder")


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    extra = 0
    can_delete = False
    fields = ("sku", "name", category_shown, "quantity", "unit_price")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(MerchantScopedReadOnlyAdmin):
    list_display = (
        "order_no",
        "merchant",
        "shopper",
        "gross_amount",
        "discount",
        "amount_paid",
        "channel",
        "created_at",
    )
    list_filter = ("channel", "merchant")
    search_fields = ("order_no", "shopper__phone")
    inlines = (OrderLineInline,)
    list_select_related = ("merchant", "shopper")


@admin.register(Redemption)
class RedemptionAdmin(MerchantScopedReadOnlyAdmin):
    merchant_path = "order__merchant"
    list_display = ("packet", "order_no", "order_amount", "used_at")
    search_fields = ("order_no", "packet__code")


@admin.register(Product)
class ProductAdmin(StrictFieldsMixin, admin.ModelAdmin):
    """The demo store's catalogue."""

    list_display = ("name", "merchant", "sku", category_shown, "price", "active")
    list_filter = ("active", CategoryFilter, "merchant")
    search_fields = ("name", "sku")


@admin.register(Refund)
class RefundAdmin(MerchantScopedReadOnlyAdmin):
    merchant_path = "order__merchant"
    list_display = ("order", "amount", "reason", "created_at")


@admin.register(CheckIn)
class CheckInAdmin(ReadOnlyAdmin):
    """Daily check-ins as `checkin.checkin_record` wrote them; read-only (a check-in may have issued packets).
    A shopper's record, not a merchant's: only platform operators see it (merchant roles lack view_checkin)."""

    list_display = ("day", "user", "streak", "created_at")
    list_filter = ("day",)
    search_fields = ("user__phone",)
    date_hierarchy = "day"
    ordering = ("-day", "-streak", "-pk")
    list_select_related = ("user",)
