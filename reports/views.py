"""Pages of the reports app outside the admin: /metrics for the monitoring system."""

import hmac

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST

from accounts.selectors import is_platform_operator

from .metrics import metrics_text


def _bearer_token_matches(request) -> bool:
    expected = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not expected or not given.startswith("Bearer "):
        return False
    return hmac.compare_digest(given.removeprefix("Bearer ").encode(), expected.encode())


@require_GET
def metrics(request):
    """Platform-wide figures: for the scraper's bearer token (METRICS_TOKEN) or a platform operator's session; a
    merchant's staff are refused (the figures span every merchant). 401 without credentials, 403 with others."""
    if not (_bearer_token_matches(request) or (request.user.is_authenticated and is_platform_operator(request.user))):
        status = 403 if request.user.is_authenticated else 401
        reply = HttpResponse(status=status)
        if status == 401:
            reply["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return reply
    return HttpResponse(metrics_text(), content_type=CONTENT_TYPE_LATEST)
