"""Roles are Django groups; their permissions are (re)applied after every migrate, so they never drift."""

from django.contrib.auth.models import Group, Permission

PLATFORM_OPERATOR = "platform_operator"
MERCHANT_ADMIN = "merchant_admin"
CAMPAIGN_MANAGER = "campaign_manager"
SHOPPER = "shopper"

_CAMPAIGN_MODELS = ["campaign", "earnrule", "rebaterule"]
ROLE_PERMISSIONS: dict[str, list[tuple[str, str]]] = {
    PLATFORM_OPERATOR: [("*", "*")],
    MERCHANT_ADMIN: [("campaigns", f"{a}_{m}") for m in _CAMPAIGN_MODELS for a in ("view", "add", "change")]
    + [("accounts", "view_merchant"), ("accounts", "view_merchantstaff"), ("accounts", "change_merchantstaff")]
    + [("packets", "view_packet"), ("packets", "view_order"), ("rebates", "view_rebate")],
    CAMPAIGN_MANAGER: [("campaigns", f"{a}_{m}") for m in _CAMPAIGN_MODELS for a in ("view", "add", "change")]
    + [("packets", "view_packet"), ("packets", "view_order"), ("rebates", "view_rebate")],
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
