"""Small condition classes in a fixed registry. Each answers one question about an event with a Verdict.

The registry is code, not data: admins choose a trigger by name; they can never point the engine at a class path."""

from decimal import Decimal

from .facts import Event
from .results import Verdict
from .spec import CampaignSpec, EarnSpec


def _ok(reason: str) -> Verdict:
    return Verdict(True, "", reason)


def _no(code: str, reason: str) -> Verdict:
    return Verdict(False, code, reason)


# --- campaign scopes: does this campaign apply to this event at all? -----------------------------------------


class CampaignLive:
    @staticmethod
    def check(campaign: CampaignSpec, event: Event) -> Verdict:
        if campaign.status != "active":
            return _no("campaign_not_active", f"campaign is {campaign.status}")
        if not campaign.starts_at <= event.at < campaign.ends_at:
            return _no("campaign_outside_window", "outside the campaign's time window")
        return _ok("campaign running")


class RegionScope:
    @staticmethod
    def check(campaign: CampaignSpec, event: Event) -> Verdict:
        if not campaign.regions:
            return _ok("nationwide")
        region = event.effective_region
        if any(region.matches(scope) for scope in campaign.regions):
            return _ok(f"region {region.province}/{region.city} in scope")
        where = f"{region.province}/{region.city}" if region.province else "unknown region"
        return _no("region_not_in_scope", f"{where} is not in {', '.join(campaign.regions)}")


class UserScope:
    @staticmethod
    def check(campaign: CampaignSpec, event: Event) -> Verdict:
        if campaign.user_scope == "new_users":
            if event.shopper.prior_orders:
                return _no("not_a_new_user", f"new users only; shopper has {event.shopper.prior_orders} orders")
            return _ok("new user")
        if campaign.user_scope == "segments":
            shared = event.shopper.segments & set(campaign.segments)
            if not shared:
                return _no("not_in_segment", f"only for segments {', '.join(campaign.segments)}")
            return _ok(f"in segment {', '.join(sorted(shared))}")
        return _ok("all users")


class Limits:
    """Explains limits from counters. Production enforces the same limits in SQL, race-free."""

    @staticmethod
    def check(campaign: CampaignSpec, event: Event) -> Verdict:
        counters = event.counters
        if campaign.per_user_limit and counters.user_packets >= campaign.per_user_limit:
            return _no("per_user_limit_reached", f"shopper already has {counters.user_packets} packets (limit)")
        if campaign.packet_limit and counters.campaign_packets >= campaign.packet_limit:
            return _no("campaign_limit_reached", f"campaign issued {counters.campaign_packets} packets (limit)")
        return _ok("within limits")


SCOPES = (CampaignLive, RegionScope, UserScope, Limits)


# --- triggers: does this earn rule fire for this event? --------------------------------------------------------


class Purchase:
    @staticmethod
    def fires(rule: EarnSpec, event: Event) -> Verdict:
        counted = sum(
            (line.total for line in event.lines if line.category not in rule.denied_categories), Decimal("0.00")
        )
        if counted >= rule.threshold:
            return _ok(f"order {counted} ≥ threshold {rule.threshold}")
        return _no("below_threshold", f"order {counted} < threshold {rule.threshold}")


def _on(kind: str, label: str):
    class Trigger:
        @staticmethod
        def fires(rule: EarnSpec, event: Event) -> Verdict:
            return _ok(label)

    Trigger.__name__ = kind.title().replace("_", "")
    return Trigger


TRIGGERS = {
    "purchase": Purchase,
    "registration": _on("registration", "new registration"),
    "check_in": _on("check_in", "daily check-in"),
    "share": _on("share", "a friend joined or bought through the shared link"),
    "referral": _on("referral", "invited by a referrer"),
    "manual": _on("manual", "granted by an operator"),
}
