from .models import Merchant, User


def merchant_of(user: User) -> Merchant | None:
    """The merchant a staff user acts for (a staff member belongs to one merchant)."""
    if not user.is_authenticated:
        return None
    if not hasattr(user, "_merchant_of"):  # asked several times per request (permission, view): read once
        membership = user.memberships.select_related("merchant").order_by("pk").first()
        user._merchant_of = membership.merchant if membership else None
    return user._merchant_of


def is_platform_operator(user: User) -> bool:
    return user.is_superuser or user.groups.filter(name="platform_operator").exists()


def scoped_to_merchant(queryset, user: User, merchant_path: str):
    """Platform operators see everything; merchant staff only rows of their merchant; anyone else nothing."""
    if is_platform_operator(user):
        return queryset
    merchant = merchant_of(user)
    return queryset.filter(**{merchant_path: merchant}) if merchant else queryset.none()
