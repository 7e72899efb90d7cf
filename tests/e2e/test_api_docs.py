"""The API documentation works offline: Swagger UI and ReDoc come from the project's static files
(drf-spectacular-sidecar), so with every request to another host blocked the pages still list the operations."""

import os
from urllib.parse import urlparse

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest

from tests.e2e.conftest import needs_chromium

pytestmark = [needs_chromium, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline_tab(open_tab):
    """A tab whose requests to any host but the live server are aborted (as without internet); they are recorded."""
    tab = open_tab("en", "api-docs")
    host = urlparse(tab.base).netloc
    tab.blocked = []

    def route(route):
        url = route.request.url
        if url.startswith(("data:", "blob:")) or urlparse(url).netloc == host:
            route.continue_()
        else:
            tab.blocked.append(url)
            route.abort()

    tab.context.route("**/*", route)
    return tab


def test_swagger_ui_lists_the_operations_without_internet(offline_tab):
    tab = offline_tab
    tab.go("/api/docs/")
    operations = tab.page.locator(".opblock-summary-path")
    operations.first.wait_for()
    paths = operations.all_inner_texts()
    assert any("/api/v1/orders/" in p for p in paths), paths[:10]
    assert tab.blocked == []


def test_redoc_lists_the_operations_without_internet(offline_tab):
    tab = offline_tab
    tab.go("/api/redoc/")
    tab.page.get_by_text("/api/v1/orders/", exact=False).first.wait_for(state="attached")
    assert tab.page.locator("[data-section-id^='tag/']").count() > 0
    assert tab.blocked == []
