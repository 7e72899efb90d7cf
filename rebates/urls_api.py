from django.urls import path

from . import api

urlpatterns = [
    path("rebates/", api.RebateListApi.as_view(), name="api-rebates"),
    path("wallet/", api.WalletApi.as_view(), name="api-wallet"),
]
