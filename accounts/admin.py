from django.contrib import admin, messages
from django.contrib.auth.admin import GroupAdmin as DjangoGroupAdmin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.models import Group
from django.db.models import Count
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from antifraud import services as antifraud_services
from common.admin import TranslatedPermissionsMixin

from . import services
from .forms import UserAdminChangeForm, UserAdminCreationForm
from .models import Device, Merchant, MerchantStaff, User
from .selectors import is_platform_operator, merchant_of, scoped_to_merchant

admin.site.site_header = _("Red-packet two-way rebates · Admin")
admin.site.site_title = _("Red-packet rebates admin")
admin.site.index_title = _("Administration")


def _report(modeladmin, request, message: str) -> None:
    modeladmin.message_user(request, message, messages.SUCCESS)


def _decide(modeladmin, request, queryset, *, title, perform, done):
    """A ban or unban: asks for the reason on an intermediate page, then calls the recorded anti-fraud service."""
    from antifraud.admin import decide_with_reason  # antifraud builds on accounts

    return decide_with_reason(
        modeladmin,
        request,
        queryset,
        title=title,
        perform=lambda obj, data: perform(obj.pk, actor=request.user, reason=data["reason"]),
        done=done,
    )


@admin.register(User)
class UserAdmin(TranslatedPermissionsMixin, DjangoUserAdmin):
    form = UserAdminChangeForm
    add_form = UserAdminCreationForm
    list_display = ("username", "phone", "email", "province", "city", "is_banned", "is_staff", "date_joined")
    list_filter = ("is_banned", "is_staff", "is_superuser", "is_active", "groups", "province")
    search_fields = ("username", "phone", "email", "first_name", "last_name", "invite_code")
    readonly_fields = ("invite_code", "last_login", "date_joined")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        (_("Personal info"), {"fields": ("first_name", "last_name", "email", "phone", "province", "city")}),
        (_("Rebates"), {"fields": ("invite_code", "is_banned")}),
        (
            _("Permissions"),
            {"fields": ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")},
        ),
        (_("Important dates"), {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "phone", "email", "password1", "password2"),
            },
        ),
    )
    actions = ("ban_users", "unban_users")

    # Bans go through the anti-fraud services: each asks for a reason and is recorded in the review trail (a ban also
    # holds the account's pending rebates for review).
    @admin.action(description=_("Ban selected users"), permissions=["change"])
    def ban_users(self, request, queryset):
        return _decide(
            self,
            request,
            queryset,
            title=_("Ban users"),
            perform=lambda pk, **kw: antifraud_services.user_ban(user_id=pk, **kw),
            done=lambda count: ngettext("%(count)d user banned.", "%(count)d users banned.", count),
        )

    @admin.action(description=_("Lift the ban on selected users"), permissions=["change"])
    def unban_users(self, request, queryset):
        return _decide(
            self,
            request,
            queryset,
            title=_("Lift the ban on users"),
            perform=lambda pk, **kw: antifraud_services.user_unban(user_id=pk, **kw),
            done=lambda count: ngettext("%(count)d user unbanned.", "%(count)d users unbanned.", count),
        )


class MerchantStaffInline(admin.TabularInline):
    model = MerchantStaff
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Merchant)
class MerchantAdmin(admin.ModelAdmin):
    list_display = ("name", "is_verified", "staff_count", "created_at")
    list_filter = ("is_verified",)
    search_fields = ("name",)
    readonly_fields = ("created_at",)
    inlines = (MerchantStaffInline,)
    actions = ("verify_merchants", "unverify_merchants")

    def get_queryset(self, request):
        # Merchant staff use the console too: they see their own merchant only (a foreign id is "not found").
        qs = super().get_queryset(request)
        if not is_platform_operator(request.user):
            qs = qs.filter(pk=getattr(merchant_of(request.user), "pk", None))
        return qs.annotate(_staff_count=Count("memberships"))

    @admin.display(description=_("staff"), ordering="_staff_count")
    def staff_count(self, obj):
        return obj._staff_count

    @admin.action(description=_("Mark selected merchants as verified"), permissions=["change"])
    def verify_merchants(self, request, queryset):
        count = services.merchants_set_verified(merchant_ids=queryset.values_list("pk", flat=True), verified=True)
        _report(
            self,
            request,
            ngettext("%(count)d merchant verified.", "%(count)d merchants verified.", count) % {"count": count},
        )

    @admin.action(description=_("Withdraw verification of selected merchants"), permissions=["change"])
    def unverify_merchants(self, request, queryset):
        count = services.merchants_set_verified(merchant_ids=queryset.values_list("pk", flat=True), verified=False)
        _report(
            self,
            request,
            ngettext("%(count)d merchant unverified.", "%(count)d merchants unverified.", count) % {"count": count},
        )


@admin.register(MerchantStaff)
class MerchantStaffAdmin(admin.ModelAdmin):
    list_display = ("user", "merchant", "role")
    list_filter = ("role", "merchant__is_verified")
    search_fields = ("user__username", "user__phone", "user__email", "merchant__name")
    autocomplete_fields = ("merchant", "user")
    list_select_related = ("user", "merchant")

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, "merchant")

    def get_readonly_fields(self, request, obj=None):
        # A merchant admin may change a role, never whose staff member it is or who (else it could join any merchant).
        return () if is_platform_operator(request.user) else ("merchant", "user")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("fingerprint", "owner", "is_banned", "first_seen", "last_seen")
    list_filter = ("is_banned",)
    search_fields = ("fingerprint", "owner__username", "owner__phone", "owner__email")
    readonly_fields = ("first_seen", "last_seen")
    autocomplete_fields = ("owner",)
    list_select_related = ("owner",)
    date_hierarchy = "last_seen"
    actions = ("ban_devices", "unban_devices")

    @admin.action(description=_("Ban selected devices"), permissions=["change"])
    def ban_devices(self, request, queryset):
        return _decide(
            self,
            request,
            queryset,
            title=_("Ban devices"),
            perform=lambda pk, **kw: antifraud_services.device_ban(device_id=pk, **kw),
            done=lambda count: ngettext("%(count)d device banned.", "%(count)d devices banned.", count),
        )

    @admin.action(description=_("Lift the ban on selected devices"), permissions=["change"])
    def unban_devices(self, request, queryset):
        return _decide(
            self,
            request,
            queryset,
            title=_("Lift the ban on devices"),
            perform=lambda pk, **kw: antifraud_services.device_unban(device_id=pk, **kw),
            done=lambda count: ngettext("%(count)d device unbanned.", "%(count)d devices unbanned.", count),
        )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(TranslatedPermissionsMixin, DjangoGroupAdmin):
    pass
