"""Browser tests: Playwright (sync API) driving the machine's Chromium against pytest-django's live server.

Playwright's sync API runs an event loop in the test thread; Django refuses ORM calls from a thread with a running
loop unless told it is safe — here it is (one thread, no concurrency with the loop), hence the variable below, set
before anything imports the ORM's async guard."""

import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
WIDTHS = {390: 844, 1280: 800}  # a phone and a laptop


def chromium_missing() -> bool:
    return not (os.path.exists(CHROMIUM) and os.access(CHROMIUM, os.X_OK))


needs_chromium = pytest.mark.skipif(
    chromium_missing(), reason=f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)"
)


@pytest.fixture(scope="module")
def browser():
    """One Chromium per test module: the Playwright loop ends with the module, before other tests run."""
    if chromium_missing():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install chromium fonts-noto-cjk)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:  # pragma: no cover — requirements-dev.txt installs it
        pytest.skip("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


class Tab:
    """One browser tab on the live server, in one language: it records every request it makes (to prove nothing
    leaves the site) and saves a screenshot of each page at a phone's and a laptop's width."""

    def __init__(self, browser, live_server, language: str, name: str):
        self.base = live_server.url
        self.language = language
        self.name = name
        self.context = browser.new_context(
            viewport={"width": 390, "height": WIDTHS[390]},
            locale="zh-CN" if language.startswith("zh") else "en-US",
            timezone_id="Asia/Shanghai",
        )
        self.context.add_cookies([{"name": "django_language", "value": language, "url": self.base}])
        self.context.set_default_timeout(15_000)
        self.page = self.context.new_page()
        self.requests: list[str] = []
        self.page.on("request", lambda request: self.requests.append(request.url))
        self.shots: list[Path] = []
        self.layout_problems: list[str] = []

    def go(self, path: str):
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, f"{path}: {response and response.status}"
        return response

    def shoot(self, page_name: str, *, strict: bool = True) -> None:
        """Screenshots at both widths. A page that scrolls sideways fails the test; with strict=False (pages this
        suite does not own) it is only reported, in `layout_problems`."""
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for width, height in WIDTHS.items():
            self.page.set_viewport_size({"width": width, "height": height})
            path = SCREENSHOTS / f"{self.name}-{self.language}-{page_name}-{width}.png"
            self.page.screenshot(path=str(path), full_page=True)
            self.shots.append(path)
            overflow = self.page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if overflow > 0:
                problem = f"{page_name} scrolls sideways by {overflow}px at {width}px"
                assert not strict, problem
                self.layout_problems.append(problem)
        self.page.set_viewport_size({"width": 390, "height": WIDTHS[390]})

    def foreign_requests(self) -> list[str]:
        """Every request that went anywhere but the live server (data: URLs are inline, not requests out)."""
        host = urlparse(self.base).netloc
        return [u for u in self.requests if not u.startswith(("data:", "blob:")) and urlparse(u).netloc != host]

    def close(self):
        self.context.close()


@pytest.fixture
def open_tab(browser, live_server):
    tabs = []

    def open_(language: str, name: str) -> Tab:
        tab = Tab(browser, live_server, language, name)
        tabs.append(tab)
        return tab

    yield open_
    for tab in tabs:
        tab.close()
