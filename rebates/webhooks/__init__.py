"""Webhooks: merchants' endpoints, the events emitted to them, signed deliveries and their retries (docs/WEBHOOKS.md).
Models keep the rebates app's label and tables (`rebates_webhookendpoint`, `rebates_webhookdelivery`)."""
