"""Webhooks in admin: merchants manage their own endpoints; the delivery log is read-only with "retry now".

Merchant staff see only their merchant's endpoints and deliveries; platform operators see all, and only they register
platform endpoints (no merchant: every merchant's events). Registered on import; `rebates/admin.py` imports this."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from accounts.selectors import is_platform_operator, merchant_of, scoped_to_merchant
from common.admin import MerchantScopedReadOnlyAdmin
from common.errors import ApplicationError

from . import services as webhooks
from .models import EventType, WebhookDelivery, WebhookEndpoint


class WebhookEndpointForm(forms.ModelForm):
    url = forms.URLField(label=_("URL"), max_length=500, assume_scheme="https")
    events = forms.MultipleChoiceField(
        label=_("events"), choices=EventType.choices, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = WebhookEndpoint
        fields = ("merchant", "url", "events", "description", "active")

    def clean_url(self):
        url = self.cleaned_data["url"]
        try:
            webhooks.webhook_url_check(url)
        except ApplicationError as exc:
            raise ValidationError(exc.message) from None
        return url


class WebhookEndpointAdmin(admin.ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "merchant", "events", "active", "created_at")
    list_filter = ("active",)
    search_fields = ("url", "description", "merchant__name")
    list_select_related = ("merchant",)
    actions = ("rotate_secret",)

    def get_queryset(self, request):
        return scoped_to_merchant(super().get_queryset(request), request.user, "merchant")

    def get_fields(self, request, obj=None):
        fields = ["url", "events", "description", "active"]
        if is_platform_operator(request.user):
            fields.insert(0, "merchant")
        return [*fields, "secret"] if obj else fields

    def get_readonly_fields(self, request, obj=None):
        return ("secret",) if obj else ()

    def save_model(self, request, obj, form, change):
        """Writes go through the services (they check the URL again and generate the secret)."""
        data = {name: form.cleaned_data[name] for name in ("url", "events", "description", "active")}
        if change:
            changed = {name: value for name, value in data.items() if name in form.changed_data}
            if is_platform_operator(request.user) and "merchant" in form.changed_data:
                obj.save(update_fields=["merchant"])
            if changed:
                webhooks.webhook_endpoint_update(endpoint=obj, **changed)
            return
        operator = is_platform_operator(request.user)
        merchant = form.cleaned_data.get("merchant") if operator else merchant_of(request.user)
        created = webhooks.webhook_endpoint_create(merchant=merchant, **data)
        obj.pk, obj.merchant, obj.secret = created.pk, created.merchant, created.secret
        obj.created_at, obj.updated_at = created.created_at, created.updated_at
        obj._state.adding = False
        self.message_user(
            request,
            _("Endpoint registered. Its signing secret is on its page: receivers check X-Rebate-Signature with it."),
            messages.SUCCESS,
        )

    @admin.action(description=_("Replace the signing secret of the selected endpoints"), permissions=["change"])
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            webhooks.webhook_endpoint_rotate_secret(endpoint=endpoint)
        self.message_user(
            request,
            ngettext(
                "%d endpoint has a new signing secret.", "%d endpoints have a new signing secret.", queryset.count()
            )
            % queryset.count(),
            messages.SUCCESS,
        )


class WebhookDeliveryAdmin(MerchantScopedReadOnlyAdmin):
    merchant_path = "endpoint__merchant"
    list_display = (
        "id",
        "event_type",
        "event_id",
        "endpoint",
        "state",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "created_at",
        "delivered_at",
    )
    list_filter = ("state", "event_type")
    search_fields = ("event_id", "endpoint__url", "endpoint__merchant__name")
    list_select_related = ("endpoint",)
    readonly_fields = (
        "endpoint",
        "event_id",
        "event_type",
        "state",
        "attempts",
        "next_attempt_at",
        "last_attempt_at",
        "last_status_code",
        "last_error",
        "created_at",
        "delivered_at",
        "body",
    )
    actions = ("retry_now",)

    def has_retry_permission(self, request):
        return request.user.has_perm("rebates.change_webhookdelivery")

    @admin.action(description=_("Send the selected webhook deliveries again now"), permissions=["retry"])
    def retry_now(self, request, queryset):
        queued = webhooks.webhook_deliveries_retry(delivery_ids=queryset.values_list("pk", flat=True))
        self.message_user(
            request,
            ngettext(
                "%d delivery queued to be sent again (same event id).",
                "%d deliveries queued to be sent again (same event id).",
                len(queued),
            )
            % len(queued),
            messages.SUCCESS,
        )


# Safe to import twice (tests import it directly; rebates/admin.py imports it too).
if not admin.site.is_registered(WebhookEndpoint):
    admin.site.register(WebhookEndpoint, WebhookEndpointAdmin)
if not admin.site.is_registered(WebhookDelivery):
    admin.site.register(WebhookDelivery, WebhookDeliveryAdmin)
