"""The branded error pages on a phone: at 320 and 360 px, in Chinese and English, the 404, 414 and 500 pages (one
layout with the 503 page) fit the screen without scrolling sideways and load nothing from another host."""

import os

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"  # Playwright's sync API runs a loop in this thread (see conftest)

import pytest
from django.conf import settings

from tests.e2e.conftest import needs_chromium

pytestmark = [
    needs_chromium,
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.urls("tests.common.urls_failing"),
]

PAGES = {
    404: "/no-such-page/",
    414: "/store/?q=" + "x" * settings.MAX_URI_LENGTH,
    500: "/test/page-boom/",
}
HEADINGS = {
    "zh-hans": {404: "页面不存在", 414: "网址过长", 500: "出错了"},
    "en": {404: "Page not found", 414: "Address too long", 500: "Something went wrong"},
}


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_the_error_pages_fit_a_narrow_phone(open_tab, language):
    tab = open_tab(language, "errors")
    for status, path in PAGES.items():
        for width in (320, 360):
            tab.page.set_viewport_size({"width": width, "height": 740})
            response = tab.page.goto(tab.base + path)
            assert response.status == status
            assert tab.page.locator("h1").inner_text() == HEADINGS[language][status]
            assert tab.page.locator(".btn").is_visible()
            overflow = tab.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 0, f"{status} page scrolls sideways by {overflow}px at {width}px"
        tab.shoot(f"error-{status}")
    assert tab.foreign_requests() == []
