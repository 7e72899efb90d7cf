from django.conf import settings
from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from config.celery import app as celery_app


def home(request):
    return render(request, "home.html")


def healthz(request):
    """Database and broker reachability; 503 when either is down so a load balancer takes us out."""
    checks = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        checks["database"] = "ok"
    except Exception as exc:  # any failure means unhealthy
        checks["database"] = f"error: {exc.__class__.__name__}"
    try:
        # The URL is read from settings on every call (not the Celery app's cached conf) so tests can override it.
        with celery_app.connection_for_write(settings.CELERY_BROKER_URL) as conn:
            conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0.5, timeout=2)
        checks["broker"] = "ok"
    except Exception as exc:
        checks["broker"] = f"error: {exc.__class__.__name__}"
    healthy = all(v == "ok" for v in checks.values())
    return JsonResponse({"status": "ok" if healthy else "unhealthy", "checks": checks}, status=200 if healthy else 503)
