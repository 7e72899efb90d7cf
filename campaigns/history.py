"""Who changed which rule, when, from what to what: field-level RuleChange rows. Rules move money.

One call per changed row (a "target"). The API and the admin both record through here:

    before = campaign_rules_snapshot(campaign)       # before saving
    ... save the campaign and its rule rows ...
    campaign_changes_record(campaign=campaign, actor=user, before=before, after=campaign_rules_snapshot(campaign))

or, for a single row, `rule_changes_record(campaign=…, actor=…, target="rebate_rule", before={…}, after={…})`.
"""

from datetime import date, datetime
from decimal import Decimal

from django.db import models

from .models import Campaign, CategoryRate, EarnRule, MultiplierWindow, RebateRule, RuleChange

_MISSING = object()
# Not rules: counters and bookkeeping the system itself moves.
_NOT_RULES = {"id", "campaign", "created_at", "packets_issued"}


def _plain(value):
    """A JSON value for the stored diff (Decimal and times as strings, so nothing is lost to floats)."""
    if value is _MISSING or value is None:
        return None
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted(_plain(v) for v in value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, str | int | float | bool):
        return value
    return str(value)


def rule_fields(instance: models.Model) -> dict:
    """The rule-bearing fields of one row (foreign keys by id), for before/after dicts."""
    fields = {}
    for field in instance._meta.concrete_fields:
        if field.name in _NOT_RULES:
            continue
        fields[field.name] = getattr(instance, field.attname)
    return fields


def rule_target(instance: models.Model) -> str:
    """The stable name of a rule row in the history: campaign, rebate_rule, earn_rule#12, category_rate#3…"""
    if isinstance(instance, Campaign):
        return "campaign"
    if isinstance(instance, RebateRule):
        return "rebate_rule"
    prefix = {EarnRule: "earn_rule", CategoryRate: "category_rate", MultiplierWindow: "multiplier_window"}
    return f"{prefix[type(instance)]}#{instance.pk}"


def campaign_rules_snapshot(campaign: Campaign) -> dict[str, dict]:
    """Every rule row of the campaign, read from the database now: {target: fields}."""
    campaign = Campaign.objects.get(pk=campaign.pk)
    rows: list[models.Model] = [campaign]
    rows += list(RebateRule.objects.filter(campaign=campaign))
    rows += list(EarnRule.objects.filter(campaign=campaign).order_by("pk"))
    rows += list(CategoryRate.objects.filter(campaign=campaign).order_by("pk"))
    rows += list(MultiplierWindow.objects.filter(campaign=campaign).order_by("pk"))
    return {rule_target(row): rule_fields(row) for row in rows}


def field_diff(before: dict, after: dict) -> dict:
    """{field: {"before": …, "after": …}} for every field whose value differs; a field present on one side only
    (a row created or deleted) is reported with null on the other side."""
    diff = {}
    for field in [*before, *(k for k in after if k not in before)]:
        old, new = before.get(field, _MISSING), after.get(field, _MISSING)
        if old is not _MISSING and new is not _MISSING and old == new:
            continue
        diff[field] = {"before": _plain(old), "after": _plain(new)}
    return diff


def rule_changes_record(*, campaign: Campaign, actor, target: str, before: dict, after: dict) -> RuleChange | None:
    """One RuleChange row with the field-level diff of `target`; nothing when nothing changed. `before` is {} for a
    created row, `after` is {} for a deleted one. `actor` is the user who did it (None or anonymous: the system)."""
    changes = field_diff(before, after)
    if not changes:
        return None
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return RuleChange.objects.create(campaign=campaign, actor=actor, target=target[:60], changes=changes)


def campaign_changes_record(*, campaign: Campaign, actor, before: dict[str, dict], after: dict[str, dict]):
    """Record every target that differs between two `campaign_rules_snapshot`s (created, changed or deleted)."""
    recorded = []
    for target in [*before, *(t for t in after if t not in before)]:
        change = rule_changes_record(
            campaign=campaign, actor=actor, target=target, before=before.get(target, {}), after=after.get(target, {})
        )
        if change is not None:
            recorded.append(change)
    return recorded
