"""Roles are Django groups; their permissions are (re)applied after every migrate, so they never drift."""

from django.contrib.auth.models import Group, Permission

PLATFORM_OPERATOR = "platform_operator"
MERCHANT_ADMIN = "merchant_admin"
CAMPAIGN_MANAGER = "campaign_manager"
SHOPPER = "shopper"

_RULE_MODELS = [
    "earnrule",
    "rebaterule",
    "categoryrate",
    "multiplierwindow",
    "referralprogram",
    "milestoneprogram",
    "trialprogram",
]
_CAMPAIGN_PERMS = [("campaigns", f"{a}_campaign") for a in ("view", "add", "change")] + [
    ("campaigns", f"{a}_{m}") for m in _RULE_MODELS for a in ("view", "add", "change", "delete")
]
_VIEW_RECORDS = [
    ("campaigns", "view_rulechange"),
    ("campaigns", "view_referralreward"),
    ("campaigns", "view_enrolment"),
    ("campaigns", "view_milestoneattestation"),
    ("campaigns", "view_feedback"),
    ("campaigns", "change_feedback"),
    ("campaigns", "view_trialattribution"),
    ("packets", "view_packet"),
    ("packets", "view_order"),
    ("rebates", "view_rebate"),
]
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    PLATFORM_OPERATOR: [("*", "*")],
    MERCHANT_ADMIN: [
        *_CAMPAIGN_PERMS,
        *_VIEW_RECORDS,
        ("accounts", "view_merchant"),
        ("accounts", "view_merchantstaff"),
        ("accounts", "change_merchantstaff"),
        # Webhooks: the merchant's own endpoints (admin scopes them) and the delivery log with "retry now".
        *[("rebates", f"{a}_webhookendpoint") for a in ("view", "add", "change", "delete")],
        ("rebates", "view_webhookdelivery"),
        ("rebates", "change_webhookdelivery"),
    ],
    CAMPAIGN_MANAGER: [*_CAMPAIGN_PERMS, *_VIEW_RECORDS],
    SHOPPER: [],
}


def ensure_roles(**kwargs):
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        if perms == [("*", "*")]:
            group.permissions.set(Permission.objects.all())
            continue
        wanted = [
            p
            for app_label, codename in perms
            for p in Permission.objects.filter(content_type__app_label=app_label, codename=codename)
        ]
        group.permissions.set(wanted)
