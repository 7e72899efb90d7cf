"""Device identity: a signed first-party cookie on the pages, a merchant-reported id on the API.

The cookie is signed, so nobody can mint the id of someone else's device and make that person look like a device
shared by many accounts; an API id is namespaced by the merchant that reports it, so one merchant's ids never touch
another's shoppers. Browser signals (screen, time zone, language) are kept for reviewers, never used as a key."""

import json
import re
import secrets
from datetime import datetime

from django.conf import settings
from django.core import signing
from django.db import connection
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Device, User

from .errors import InvalidDeviceId

COOKIE = "rp_did"
SIGNALS_COOKIE = "rp_dsig"
_SALT = "antifraud.device"
API_DEVICE_ID = re.compile(r"^[A-Za-z0-9._:\-]{6,100}$")
_SIGNAL_KEYS = ("screen", "tz", "lang", "platform", "cores", "touch")


def api_fingerprint(merchant_id: int, device_id: str) -> str:
    """A device id a merchant's server reports for its shopper, kept apart from other merchants' ids."""
    if not API_DEVICE_ID.match(device_id):
        raise InvalidDeviceId(_("device_id must be 6–100 letters, digits or . _ : -"))
    return f"m{merchant_id}:{device_id}"


def app_fingerprint(device_id: str) -> str:
    """A shopper app's install id: random per install, so sharing one across accounts means one phone."""
    if not API_DEVICE_ID.match(device_id):
        raise InvalidDeviceId(_("device_id must be 6–100 letters, digits or . _ : -"))
    return f"app:{device_id}"


def page_fingerprint(request) -> str | None:
    token = getattr(request, "device_token", None)
    return f"web:{token}" if token else None


def _signals(request) -> dict:
    """The browser signals the page script wrote (static/js/device.js); anything malformed is simply dropped."""
    raw = request.COOKIES.get(SIGNALS_COOKIE, "")
    try:
        data = json.loads(signing.b64_decode(raw.encode()).decode()) if raw else {}
    except (ValueError, UnicodeDecodeError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: str(data[k])[:64] for k in _SIGNAL_KEYS if k in data}


def device_seen(*, fingerprint: str, user: User, signals: dict | None = None, now: datetime | None = None) -> Device:
    """The device row for this fingerprint, with `user` recorded among the accounts that used it: two upserts."""
    now = now or timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO accounts_device (fingerprint, owner_id, first_seen, last_seen, is_banned, signals)
               VALUES (%(f)s, %(u)s, %(now)s, %(now)s, false, %(s)s)
               ON CONFLICT (fingerprint) DO UPDATE SET last_seen = EXCLUDED.last_seen,
                   signals = CASE WHEN EXCLUDED.signals = '{}'::jsonb THEN accounts_device.signals
                                  ELSE EXCLUDED.signals END
               RETURNING id, owner_id, first_seen, is_banned, signals""",
            {"f": fingerprint, "u": user.pk, "now": now, "s": json.dumps(signals or {})},
        )
        pk, owner_id, first_seen, is_banned, stored = cursor.fetchone()
        cursor.execute(
            """INSERT INTO accounts_deviceuse (device_id, user_id, first_seen, last_seen) VALUES (%s, %s, %s, %s)
               ON CONFLICT (device_id, user_id) DO UPDATE SET last_seen = EXCLUDED.last_seen""",
            [pk, user.pk, now, now],
        )
    signals_value = stored if isinstance(stored, dict) else json.loads(stored)
    return Device(
        pk=pk,
        fingerprint=fingerprint,
        owner_id=owner_id,
        first_seen=first_seen,
        last_seen=now,
        is_banned=is_banned,
        signals=signals_value,
    )


def request_device(request, user: User) -> Device | None:
    """The signed-in shopper's page device, recorded as used by them; None without a valid cookie."""
    fingerprint = page_fingerprint(request)
    return device_seen(fingerprint=fingerprint, user=user, signals=_signals(request)) if fingerprint else None


class DeviceCookieMiddleware:
    """Gives every browser a device id in a signed first-party cookie (not on the API, whose callers are servers)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token, fresh = None, False
        if not request.path.startswith("/api/"):
            token = request.get_signed_cookie(COOKIE, default=None, salt=_SALT)
            if token is None:
                token, fresh = secrets.token_urlsafe(16), True
        request.device_token = token
        response = self.get_response(request)
        if fresh:
            response.set_signed_cookie(
                COOKIE,
                token,
                salt=_SALT,
                max_age=2 * 365 * 24 * 3600,
                httponly=True,
                samesite="Lax",
                secure=settings.SESSION_COOKIE_SECURE,
            )
        return response
