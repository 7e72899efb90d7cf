"""Nothing the project serves loads a resource from another host: pages and API docs work without internet (and tell
no CDN who is reading them). Links a user follows (<a href>) and XML namespace names are not loads."""

import re
from pathlib import Path

import pytest
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
SCANNED = (".html", ".txt", ".css", ".js", ".svg", ".json", ".xml")
# An absolute (https://host) or protocol-relative (//host) URL.
URL = re.compile(r"(?:https?:)?//[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
NAMESPACE = re.compile(r"xmlns(?::\w+)?=\\?[\"']?$")
LINK = re.compile(r"<a\s[^>]*href=[\"']?$", re.IGNORECASE)
# Vendored libraries name hosts that are not loads: their licence comment, and XML namespaces passed to
# createElementNS (checked by eye at vendoring; the report's browser test proves no request leaves the site).
NOT_LOADS = {
    "static/vendor/echarts-6.1.0/echarts.min.js": {"http://www.apache.org", "https://github.com", "http://www.w3.org"},
}


def project_files() -> list[Path]:
    roots = [ROOT / "templates", ROOT / "static", *ROOT.glob("*/templates"), *ROOT.glob("*/static")]
    return sorted({p for r in roots if r.is_dir() for p in r.rglob("*") if p.suffix in SCANNED})


def foreign_loads(text: str) -> list[str]:
    found = []
    for match in URL.finditer(text):
        before = text[max(0, match.start() - 200) : match.start()]
        if NAMESPACE.search(before) or LINK.search(before):
            continue
        if match.group().startswith("//") and before.endswith((":", "/")):
            continue  # the tail of something else, e.g. "file://"
        found.append(match.group())
    return found


def test_the_scan_sees_the_project_files():
    names = {p.name for p in project_files()}
    assert {"base.html", "app.css", "app.js"} <= names


def test_the_scan_flags_a_cdn_script_and_spares_links_and_namespaces():
    assert foreign_loads('<script src="https://cdn.example.com/x.js"></script>') == ["https://cdn.example.com"]
    assert foreign_loads("@import url(//fonts.example.com/css);") == ["//fonts.example.com"]
    assert foreign_loads('<a href="https://example.com/help">help</a>') == []
    assert foreign_loads("<svg xmlns='http://www.w3.org/2000/svg'></svg>") == []


def test_no_template_or_static_file_loads_from_another_host():
    offenders = {
        name: urls
        for p in project_files()
        if (urls := set(foreign_loads(p.read_text())) - NOT_LOADS.get(name := str(p.relative_to(ROOT)), set()))
    }
    assert offenders == {}


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_pages_load_their_ui_from_our_static_files(client, path):
    response = client.get(path)
    assert response.status_code == 200
    html = response.content.decode()
    assert foreign_loads(html) == []
    assert f"{settings.STATIC_URL}drf_spectacular_sidecar/" in html
