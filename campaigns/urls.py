from django.urls import path

from . import views

app_name = "campaigns"
urlpatterns = [
    path("<int:campaign_id>/rules/", views.rules_page, name="rules"),
]
