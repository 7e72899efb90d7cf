from .models import Merchant, User


def merchant_of(user: User) -> Merchant | None:
    """The merchant a staff user acts for (a staff member belongs to one merchant)."""
    if not user.is_authenticated:
        return None
    membership = user.memberships.select_related("merchant").order_by("pk").first()
    return membership.merchant if membership else None
