"""The anti-fraud context of a request: who is earning, from which IP, device and shopping session."""

from accounts.models import User
from common.http import client_ip

from .devices import app_fingerprint, device_seen, request_device
from .limits import EarnContext
from .trail import merchant_session_key, page_session_key, shopper_session_key


def page_context(request, user: User) -> EarnContext:
    """A shopper page: the client IP behind the trusted proxies, the cookie's device, the page trail."""
    return EarnContext(
        ip=client_ip(request) or None,
        device=request_device(request, user),
        trail_keys=(page_session_key(request),),
    )


def api_shopper_context(request, user: User, *, device_id: str = "") -> EarnContext:
    """The shopper's own client on the API (an app): its IP and the install id it reports."""
    device = device_seen(fingerprint=app_fingerprint(device_id), user=user) if device_id else None
    return EarnContext(ip=client_ip(request) or None, device=device)


def api_order_keys(*, merchant_id: int, shopper_id: int, session_id: str) -> tuple[str, ...]:
    """Where an API order's trail may be: the merchant's session of that id, or the shopper's own."""
    if not session_id:
        return ()
    return (merchant_session_key(merchant_id, session_id), shopper_session_key(shopper_id, session_id))
