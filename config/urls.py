from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from common import views as common_views

# Error replies for any route: JSON under /api/, branded pages elsewhere (common/failures.py).
handler404 = common_views.page_not_found
handler500 = common_views.server_error

api_v1 = [
    path("", include("rebates.urls_api")),
    path("", include("packets.urls_api")),
    path("", include("campaigns.urls_api")),
    path("", include("rebates.urls_payouts")),
    path("", include("rebates.urls_webhooks")),
    path("", include("campaigns.urls_programs")),
    path("", include("packets.urls_batch")),
    path("", include("antifraud.urls_api")),
]

urlpatterns = [
    path("", common_views.home, name="home"),
    path("healthz", common_views.healthz, name="healthz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("accounts/", include("accounts.urls")),
    path("campaigns/", include("campaigns.urls")),
    path("", include("packets.urls")),
    path("", include("packets.urls_earn")),
    path("", include("rebates.urls")),
    path("", include("antifraud.urls")),
    path("api/v1/", include(api_v1)),
    path("", include("lucky.urls")),  # its pages and its API under /api/v1/lucky/
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path(
        "api/redoc/", SpectacularRedocView.as_view(url_name="schema", template_name="api/redoc.html"), name="api-redoc"
    ),
]
