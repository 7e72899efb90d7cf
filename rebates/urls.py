from django.urls import path

from . import views

app_name = "rebates"
urlpatterns = [
    path("wallet/", views.wallet, name="wallet"),
    path("wallet/withdraw/", views.wallet_withdraw, name="withdraw"),
]
