"""A campaign's rules in plain words, in the reader's language: the public rules page and the console share it."""

from django.utils import formats
from django.utils.translation import gettext as _

from common.money import format_cny

from .models import Campaign, EarnRule, RebateRule


def _cats(categories) -> str:
    return "、".join(categories) if categories else _("all categories")


def describe_earn(rule: EarnRule) -> str:
    if rule.parsed_tiers():
        tiers = rule.parsed_tiers()
        total = sum(t.weight for t in tiers)
        amount = " / ".join(f"{format_cny(t.amount)} ({t.weight * 100 // total}%)" for t in tiers)
        amount = _("a packet drawn from %(tiers)s") % {"tiers": amount}
    else:
        amount = _("a %(amount)s packet") % {"amount": format_cny(rule.packet_amount)}
    when = {
        EarnRule.Trigger.PURCHASE: _("Spend %(threshold)s or more in one order")
        % {"threshold": format_cny(rule.threshold_amount)},
        EarnRule.Trigger.REGISTRATION: _("Sign up"),
        EarnRule.Trigger.CHECK_IN: _("Check in for the day"),
        EarnRule.Trigger.SHARE: _("Share your link and a friend joins or buys"),
        EarnRule.Trigger.REFERRAL: _("Join through a friend's invitation"),
        EarnRule.Trigger.MANUAL: _("Receive a grant from the organiser"),
    }[rule.trigger]
    use = (
        _("usable on orders of %(min)s or more") % {"min": format_cny(rule.min_spend)}
        if rule.min_spend
        else _("usable with no minimum spend")
    )
    text = _("%(when)s: you get %(amount)s, %(use)s, on %(cats)s, valid for %(days)d days.") % {
        "when": when,
        "amount": amount,
        "use": use,
        "cats": _cats(rule.allowed_categories),
        "days": rule.valid_days,
    }
    if rule.denied_categories:
        text += " " + _("Not usable on: %(cats)s.") % {"cats": "、".join(rule.denied_categories)}
    return text


def _leg(mode, rate, fixed, cap) -> str:
    text = _("%(rate)s%% of the order") % {"rate": rate} if mode == RebateRule.Mode.RATE else format_cny(fixed)
    if cap is not None:
        text += _(" (at most %(cap)s)") % {"cap": format_cny(cap)}
    return text


def describe_rebates(campaign: Campaign) -> list[str]:
    rule = getattr(campaign, "rebate_rule", None)
    if rule is None:
        return []
    lines = []
    holder_gets = _leg(rule.holder_mode, rule.holder_rate, rule.holder_fixed, rule.holder_cap)
    form = (
        _("as points (%(n)d points per ¥1)") % {"n": rule.points_per_cny}
        if rule.holder_form == "points"
        else _("as cash in your wallet")
    )
    lines.append(_("When you spend the packet, you get back %(what)s %(form)s.") % {"what": holder_gets, "form": form})
    pays_issuer = (rule.issuer_mode == RebateRule.Mode.RATE and rule.issuer_rate > 0) or (
        rule.issuer_mode == RebateRule.Mode.FIXED and rule.issuer_fixed > 0
    )
    if pays_issuer:
        lines.append(
            _("The packet's issuer also gets %(what)s.")
            % {"what": _leg(rule.issuer_mode, rule.issuer_rate, rule.issuer_fixed, rule.issuer_cap)}
        )
    for rate in campaign.category_rates.all():
        if rate.holder_rate is not None:
            lines.append(_("On %(cat)s you get back %(rate)s%%.") % {"cat": rate.category, "rate": rate.holder_rate})
    for window in campaign.multiplier_windows.all():
        lines.append(
            _("Between %(start)s and %(end)s every rebate is multiplied by %(factor)s.")
            % {
                "start": formats.date_format(window.starts_at, "Y-m-d H:i"),
                "end": formats.date_format(window.ends_at, "Y-m-d H:i"),
                "factor": window.factor,
            }
        )
    return lines


def describe_limits(campaign: Campaign) -> list[str]:
    lines = []
    if campaign.regions:
        lines.append(_("Only in: %(regions)s.") % {"regions": "、".join(campaign.regions)})
    if campaign.user_scope == Campaign.UserScope.NEW_USERS:
        lines.append(_("Only for new users (no previous order)."))
    if campaign.per_user_limit:
        lines.append(_("At most %(n)d packets per person.") % {"n": campaign.per_user_limit})
    if campaign.packet_limit:
        lines.append(_("At most %(n)d packets in total, while they last.") % {"n": campaign.packet_limit})
    lines.append(
        _("Packets of this campaign can be combined with other campaigns' packets.")
        if campaign.allow_stacking
        else _("One packet per order; packets cannot be combined.")
    )
    return lines
