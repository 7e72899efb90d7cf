from django.contrib import admin
from django.db import models
from django.utils.translation import gettext_lazy as _

from accounts.selectors import scoped_to_merchant

from .forms import MoneyFormField, SplitDateTimeFormField

# Amounts and moments typed into the admin follow the API's rules. Every ModelAdmin and inline that edits one takes
# StrictFieldsMixin; tests/common/test_admin_fields.py finds any that does not.
STRICT_FORMFIELDS = {
    models.DecimalField: {"form_class": MoneyFormField},
    models.DateTimeField: {"form_class": SplitDateTimeFormField},
}


class StrictFieldsMixin:
    formfield_overrides = STRICT_FORMFIELDS


PERMISSION_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission) -> str:
    """Django writes a default permission's name in English when it creates the row; say it in the reader's
    language from the model's names instead. Other permissions keep their own name."""
    model = permission.content_type.model_class()
    action = permission.codename.split("_", 1)[0]
    if model is None or action not in PERMISSION_ACTIONS or permission.codename != f"{action}_{model._meta.model_name}":
        return str(permission)
    described = PERMISSION_ACTIONS[action] % {"model": model._meta.verbose_name}
    return f"{model._meta.app_config.verbose_name} | {described}"


class TranslatedPermissionsMixin:
    """For the user and group forms: the permission pickers show permission_label."""

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_label
        return field


class ReadOnlyAdmin(admin.ModelAdmin):
    """Money records are changed by services only (reversals, not edits); admin shows them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class MerchantScopedReadOnlyAdmin(ReadOnlyAdmin):
    """Read-only, and merchant staff see only their merchant's rows (`merchant_path` leads to the merchant)."""

    merchant_path = "merchant"

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, self.merchant_path)
