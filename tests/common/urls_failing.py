"""The site's URLs plus routes that fail on purpose, for the error-reply tests (tests/common/test_error_replies.py)."""

from django.core.cache import caches
from django.http import HttpResponse
from django.urls import path
from django.views.decorators.http import require_POST
from rest_framework.decorators import api_view, authentication_classes, permission_classes
from rest_framework.response import Response

from config import urls as site
from config.celery import app as celery_app

CLOSED_BROKER = "redis://127.0.0.1:9/0"  # port 9 (discard): nothing listens there on the test machines


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def api_boom(request):
    raise RuntimeError("a bug in a DRF view")


def api_plain_boom(request):
    raise RuntimeError("a bug in a plain Django view under /api/")


def page_boom(request):
    raise RuntimeError("a bug in a page")


@require_POST
def api_post_only(request):
    return HttpResponse("ok")


def api_plain_status(request, status: int):
    """A plain Django view under /api/ answering `status` with a non-JSON body, as a third-party view might."""
    return HttpResponse("<h1>refused</h1>", status=status)


@api_view(["POST"])
@authentication_classes([])
@permission_classes([])
def api_publish(request):
    """Publishes to a broker that is down, as a view's `.delay()` would."""
    with celery_app.connection_for_write(CLOSED_BROKER) as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.1, timeout=2)
    return Response({})


@api_view(["GET"])
@authentication_classes([])
@permission_classes([])
def api_cache(request):
    """Reads the shared cache (rate limits count there) while Redis is down (the test points the cache at a closed
    port)."""
    caches["default"].get("anything")
    return Response({})


handler404 = site.handler404
handler500 = site.handler500
urlpatterns = [
    path("api/v1/test/boom/", api_boom),
    path("api/v1/test/plain-boom/", api_plain_boom),
    path("api/v1/test/post-only/", api_post_only),
    path("api/v1/test/status/<int:status>/", api_plain_status),
    path("api/v1/test/publish/", api_publish),
    path("api/v1/test/cache/", api_cache),
    path("test/page-boom/", page_boom),
    *site.urlpatterns,
]
