from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from antifraud import urls as antifraud_urls
from campaigns import urls as campaigns_urls
from common import views as common_views
from packets import urls as packets_urls
from rebates import urls as rebates_urls
from reports import urls as reports_urls

# Error replies for any route: JSON under /api/, branded pages elsewhere (common/failures.py).
handler404 = common_views.page_not_found
handler500 = common_views.server_error

# Each app's urls.py holds all its routes: its pages as `urlpatterns` (under the app's namespace) and its API as
# `api_urlpatterns` (names without a namespace), mounted here under /api/v1/.
api_v1 = [
    *rebates_urls.api_urlpatterns,
    *packets_urls.api_urlpatterns,
    *campaigns_urls.api_urlpatterns,
    *antifraud_urls.api_urlpatterns,
    *reports_urls.api_urlpatterns,
]

urlpatterns = [
    path("", common_views.home, name="home"),
    path("healthz", common_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("", include("packets.urls")),
    path("", include((packets_urls.earn_urlpatterns, "earn"))),
    path("", include("rebates.urls")),
    path("", include("antifraud.urls")),
    path("", include("reports.urls")),  # /metrics
    path("api/v1/", include(api_v1)),
    path("", include("lucky.urls")),  # its pages and its API under /api/v1/lucky/
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"), name="api-redoc"
    ),
]
