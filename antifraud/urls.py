from django.urls import path

from . import views

app_name = "antifraud"
urlpatterns = [
    path("appeal/", views.appeal, name="appeal"),
]
