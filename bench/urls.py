"""The project's URLs plus the framework floor (bench/floor.py), for the bench's gunicorn only (bench/settings.py)."""

from django.urls import path

from bench.floor import FLOOR_PATH, FloorApi
from config.urls import handler404, handler500  # noqa: F401 — the project's error replies, re-exported
from config.urls import urlpatterns as project_urlpatterns

urlpatterns = [path(FLOOR_PATH, FloorApi.as_view(), name="bench-floor"), *project_urlpatterns]
