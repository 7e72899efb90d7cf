from django.urls import path

from . import api

urlpatterns = [
    path("orders/", api.OrderCreateApi.as_view(), name="api-orders-create"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="api-orders-detail"),
    path("orders/<int:order_id>/refunds/", api.OrderRefundApi.as_view(), name="api-orders-refunds"),
    path("packets/", api.PacketListApi.as_view(), name="api-packets"),
]
