"""The request-rate limits of the send and grab paths, the same django-ratelimit mechanism as every earning path
(antifraud.limits.burst_limited): counted on the shared cache per account, per client IP and — on pages — per
browser device cookie, each path with its own rate (settings.LUCKY_SEND_RATE / LUCKY_GRAB_RATE). The check runs
before any database work, so a refused request writes nothing.

The campaign-scoped daily counters of antifraud.limits do not apply: a lucky packet belongs to no campaign; its money
limits (per packet, per sender per day) are the send service's own."""

from django.conf import settings
from django_ratelimit.core import is_ratelimited

from antifraud.devices import page_fingerprint

from . import errors

SEND = "lucky.send"
GRAB = "lucky.grab"


def _limited(request, *, group: str, rate: str) -> bool:
    if is_ratelimited(request, group=group, key="user", rate=rate, increment=True):
        return True
    if is_ratelimited(request, group=group, key="ip", rate=rate, increment=True):
        return True
    device = page_fingerprint(request)  # the page's signed device cookie; API callers have none
    return device is not None and is_ratelimited(
        request, group=group, key=lambda _group, _request: f"device:{device}", rate=rate, increment=True
    )


def send_rate_check(request) -> None:
    if _limited(request, group=SEND, rate=settings.LUCKY_SEND_RATE):
        raise errors.LuckyRateLimited(errors.SEND_RATE_LIMITED)


def grab_rate_check(request) -> None:
    if _limited(request, group=GRAB, rate=settings.LUCKY_GRAB_RATE):
        raise errors.LuckyRateLimited(errors.GRAB_RATE_LIMITED)
