"""Idempotency-Key for POSTs that move money (Stripe semantics).

same key + same body → the stored reply; same key + another body → 422; the first still running → 409.
Keys are scoped per caller and kept IDEMPOTENCY_KEY_TTL_HOURS. The reply is stored in the same database transaction
as the business effect, so there is never an effect without its reply or a reply without its effect.
"""

import functools
import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response

from .errors import ApplicationError, Conflict, Unprocessable
from .models import IdempotencyRecord

HEADER = "Idempotency-Key"
# A request whose worker died mid-flight is taken over after this long, so a key is never stuck forever.
STALE_LOCK = timedelta(minutes=2)


def _fingerprint(request) -> str:
    body = json.dumps(request.data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{request.method} {request.path}\n{body}".encode()).hexdigest()


def _claim(scope: str, key: str, fingerprint: str) -> tuple[IdempotencyRecord | None, Response | None]:
    """Insert the in-progress row in its own committed statement, so a concurrent duplicate sees it at once."""
    now = timezone.now()
    expiry = now - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    with connection.cursor() as cursor:
        # One statement: a new key is inserted; an expired record of the key is taken over as if it were new.
        cursor.execute(
            """INSERT INTO common_idempotencyrecord (scope, key, fingerprint, state, created_at, locked_at)
               VALUES (%(scope)s, %(key)s, %(fingerprint)s, 'in_progress', %(now)s, %(now)s)
               ON CONFLICT (scope, key) DO UPDATE
                  SET fingerprint = EXCLUDED.fingerprint, state = 'in_progress', created_at = EXCLUDED.created_at,
                      locked_at = EXCLUDED.locked_at, response_status = NULL, response_body = NULL
                WHERE common_idempotencyrecord.created_at < %(expiry)s
               RETURNING id""",
            {"scope": scope, "key": key, "fingerprint": fingerprint, "now": now, "expiry": expiry},
        )
        row = cursor.fetchone()
    if row:
        return IdempotencyRecord(pk=row[0], scope=scope, key=key, fingerprint=fingerprint), None
    existing = IdempotencyRecord.objects.get(scope=scope, key=key)
    if existing.fingerprint != fingerprint:
        raise Unprocessable(
            _("This Idempotency-Key was already used with a different request."), code="idempotency_key_reused"
        )
    if existing.state == IdempotencyRecord.State.DONE:
        replay = Response(existing.response_body, status=existing.response_status)
        replay["Idempotent-Replayed"] = "true"
        return None, replay
    taken_over = IdempotencyRecord.objects.filter(pk=existing.pk, locked_at__lt=now - STALE_LOCK).update(locked_at=now)
    if taken_over:
        return IdempotencyRecord.objects.get(pk=existing.pk), None
    raise Conflict(_("A request with this Idempotency-Key is still being processed."), code="idempotency_in_progress")


def idempotent(view_method):
    """Wrap a DRF view method (post) so it runs at most once per caller and key."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER, "").strip()
        if not key or len(key) > 255:
            raise ApplicationError(
                _("The %(header)s header is required (1–255 characters).") % {"header": HEADER},
                code="idempotency_key_required",
            )
        scope = f"user:{request.user.pk}"
        record, replay = _claim(scope, key, _fingerprint(request))
        if replay is not None:
            return replay
        try:
            with transaction.atomic():
                response = view_method(self, request, *args, **kwargs)
                body = json.loads(JSONRenderer().render(response.data)) if response.data is not None else None
                IdempotencyRecord.objects.filter(pk=record.pk).update(
                    state=IdempotencyRecord.State.DONE, response_status=response.status_code, response_body=body
                )
                return response
        except BaseException:
            # Nothing was written; free the key so the client may retry the same request.
            IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()
            raise

    wrapper.idempotent = True  # read by the schema generator (common.api.ProjectAutoSchema)
    return wrapper


def is_idempotent(view_method) -> bool:
    return getattr(view_method, "idempotent", False)


def idempotency_records_purge() -> int:
    cutoff = timezone.now() - timedelta(hours=settings.IDEMPOTENCY_KEY_TTL_HOURS)
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def run_once(*, scope: str, key: str, fingerprint: str, action):
    """`idempotent` for a page's form post: run `action()` at most once per (scope, key) and keep its JSON-able
    result with the key, in the action's own transaction. Returns (result, replayed): a repeat of a finished key gets
    the stored result and `replayed=True` without running anything. Same refusals as the API: another request under
    this key → 422 `idempotency_key_reused`, the first still running → 409 `idempotency_in_progress`. An action that
    raises leaves nothing behind, so the same key may try again (after the shopper corrects the form)."""
    record, replay = _claim(scope, key, fingerprint)
    if replay is not None:
        return replay.data, True
    try:
        with transaction.atomic():
            result = action()
            IdempotencyRecord.objects.filter(pk=record.pk).update(
                state=IdempotencyRecord.State.DONE, response_status=200, response_body=result
            )
            return result, False
    except BaseException:
        IdempotencyRecord.objects.filter(pk=record.pk, state=IdempotencyRecord.State.IN_PROGRESS).delete()
        raise
