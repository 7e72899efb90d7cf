"""Webhooks: merchants' endpoints and the deliveries of events to them (see docs/WEBHOOKS.md).

Imported at the end of `rebates/models.py`, so Django registers these models in the `rebates` app.
"""

from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class EventType(models.TextChoices):
    REBATE_CREDITED = "rebate.credited", _("rebate credited")
    REBATE_REVERSED = "rebate.reversed", _("rebate reversed")
    PAYOUT_SUCCEEDED = "payout.succeeded", _("payout succeeded")
    PAYOUT_FAILED = "payout.failed", _("payout failed")


class WebhookEndpoint(models.Model):
    """Where a merchant wants events POSTed, signed with `secret`. No merchant = a platform endpoint (operators only),
    which receives the events of every merchant."""

    merchant = models.ForeignKey(
        "accounts.Merchant",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="webhook_endpoints",
        verbose_name=_("merchant"),
        help_text=_("Empty for a platform endpoint, which receives every merchant's events."),
    )
    url = models.URLField(_("URL"), max_length=500)
    # Shared with the receiver to check X-Rebate-Signature; it must be able to sign, so it is stored as it is.
    secret = models.CharField(_("signing secret"), max_length=100, editable=False)
    events = ArrayField(
        models.CharField(max_length=32, choices=EventType.choices), verbose_name=_("events"), default=list
    )
    description = models.CharField(_("description"), max_length=200, blank=True)
    active = models.BooleanField(pgettext_lazy("switched on", "active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        indexes = [models.Index(fields=["merchant"], condition=Q(active=True), name="webhook_endpoint_active")]

    def __str__(self):
        return self.url


class WebhookDelivery(models.Model):
    """One event for one endpoint: written in the same transaction as the business event (an outbox row), then
    POSTed by a task until the receiver answers 2xx or the attempts run out. The body is fixed at insert, so every
    attempt and every replay sends the same bytes and the same event id."""

    class State(models.TextChoices):
        PENDING = "pending", _("pending")  # not delivered yet; due at next_attempt_at
        SUCCEEDED = "succeeded", _("delivered")
        FAILED = "failed", _("failed")  # gave up after the last attempt (or the endpoint was switched off)

    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries", verbose_name=_("endpoint")
    )
    event_id = models.UUIDField(_("event id"))
    event_type = models.CharField(_("event"), max_length=32, choices=EventType.choices)
    body = models.TextField(_("body"))
    state = models.CharField(_("state"), max_length=16, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    last_attempt_at = models.DateTimeField(_("last attempt at"), null=True, blank=True)
    last_status_code = models.PositiveIntegerField(_("last HTTP status"), null=True, blank=True)
    last_error = models.TextField(_("last error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event_id"], name="webhook_delivery_once_per_endpoint"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(state="pending"), name="webhook_delivery_due"),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_recent"),
        ]

    def __str__(self):
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"
