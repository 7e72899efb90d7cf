from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from common.admin import ReadOnlyAdmin

from . import services
from .models import LuckyGroup, LuckyMembership, LuckyPacket, LuckyShare


class LuckyShareInline(admin.TabularInline):
    model = LuckyShare
    extra = 0
    can_delete = False
    fields = readonly_fields = ("position", "amount", "grabbed_by", "grabbed_at", "returned_at", "best_luck")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LuckyPacket)
class LuckyPacketAdmin(ReadOnlyAdmin):
    list_display = ("pk", "sender", "group", "recipient", "kind", "total", "share_count", "status", "expires_at")
    list_filter = ("status", "kind")
    search_fields = ("sender__phone", "sender__username")
    list_select_related = ("sender", "group", "recipient")
    inlines = [LuckyShareInline]
    actions = ["expire_due"]

    @admin.action(description=_("Return the unclaimed shares of packets past their expiry"))
    def expire_due(self, request, queryset):
        returned = sum(1 for pk in queryset.values_list("pk", flat=True) if services.packet_expire(packet_id=pk) > 0)
        self.message_user(
            request,
            ngettext("%(count)d packet returned money.", "%(count)d packets returned money.", returned)
            % {"count": returned},
            messages.SUCCESS,
        )


class LuckyMembershipInline(admin.TabularInline):
    model = LuckyMembership
    extra = 0
    can_delete = False
    fields = readonly_fields = ("user", "joined_at")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(LuckyGroup)
class LuckyGroupAdmin(ReadOnlyAdmin):
    list_display = ("name", "owner", "created_at")
    search_fields = ("name", "owner__phone")
    exclude = ("invite_token",)  # a bearer secret: operators do not need it
    inlines = [LuckyMembershipInline]
