"""The site's URLs plus the earning pages (packets.urls_earn) when config/urls.py does not mount them yet."""

from django.urls import include, path

from config import urls as site

handler404 = site.handler404
handler500 = site.handler500
urlpatterns = list(site.urlpatterns)
if not any(getattr(p, "namespace", None) == "earn" for p in urlpatterns):
    urlpatterns.append(path("", include("packets.urls_earn")))
