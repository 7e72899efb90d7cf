from django.contrib import admin
from django.db import models

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
