"""Static files are collected for production (a web server or CDN serves STATIC_ROOT) and served by `make run`'s
gunicorn app (config.runstack.wsgi_with_static) — including the API docs' Swagger UI and ReDoc from
drf-spectacular-sidecar, which must never come from a CDN."""

from django.core.management import call_command
from django.test import RequestFactory, override_settings

SIDECAR = (
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
    "drf_spectacular_sidecar/swagger-ui-dist/swagger-ui.css",
    "drf_spectacular_sidecar/swagger-ui-dist/favicon-32x32.png",
    "drf_spectacular_sidecar/redoc/bundles/redoc.standalone.js",
)


def test_collectstatic_collects_the_api_docs_and_the_site_assets(tmp_path):
    with override_settings(STATIC_ROOT=tmp_path):
        call_command("collectstatic", interactive=False, verbosity=0)
    for name in (*SIDECAR, "css/app.css", "img/logo.svg", "admin/css/base.css"):
        assert (tmp_path / name).is_file(), name


def test_make_runs_web_app_serves_the_api_docs_static_files():
    from config.runstack import wsgi_with_static

    application = wsgi_with_static()
    for name in SIDECAR:
        environ = RequestFactory()._base_environ(PATH_INFO=f"/static/{name}", REQUEST_METHOD="GET")
        statuses = []
        body = b"".join(application(environ, lambda status, headers, *_: statuses.append(status)))
        assert statuses[0].startswith("200"), (name, statuses)
        assert body
