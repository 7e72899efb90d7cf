"""Every admin form that edits an amount or a moment reads it by the API's rules (common/forms.py).

The admins are found from the admin site, inlines included, so a new ModelAdmin that forgets StrictFieldsMixin fails
here without anyone listing it."""

import pytest
from django import forms
from django.contrib import admin
from django.test import RequestFactory

from common.forms import MoneyFormField, SplitDateTimeFormField
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db


def _editing_admins(request):
    """(name, ModelAdmin or inline instance) for everything a superuser can add or change in the admin."""
    for model, model_admin in admin.site._registry.items():
        if model_admin.has_add_permission(request) or model_admin.has_change_permission(request):
            yield model.__name__, model_admin
        for inline in model_admin.get_inline_instances(request):
            if inline.has_add_permission(request, None) or inline.has_change_permission(request):
                yield f"{model.__name__}.{type(inline).__name__}", inline


def _form_fields(request, model_admin):
    if isinstance(model_admin, admin.options.InlineModelAdmin):
        return model_admin.get_formset(request).form.base_fields
    return model_admin.get_form(request).base_fields


def test_every_admin_form_reads_amounts_and_moments_by_the_api_rules():
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)
    checked, wrong = 0, []
    for name, model_admin in _editing_admins(request):
        for field_name, field in _form_fields(request, model_admin).items():
            if isinstance(field, forms.DecimalField | forms.SplitDateTimeField | forms.DateTimeField):
                checked += 1
                if not isinstance(field, MoneyFormField | SplitDateTimeFormField):
                    wrong.append(f"{name}.{field_name}: {type(field).__name__}")
    assert checked > 10  # the sweep reached the campaign, rule, program and product forms
    assert wrong == [], f"use common.admin.StrictFieldsMixin on these admins: {wrong}"
