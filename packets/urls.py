"""Every route of packets, at the site root unless said: the store's pages (namespace "packets"), the pages that hand
out packets outside an order and the order trace (namespace "earn"), and the API (under /api/v1/): orders, packets,
the batch packets' claim."""

from django.urls import path

from rebates import views as rebates_views

from . import api, api_batch, views, views_earn

app_name = "packets"
urlpatterns = [
    path("store/", views.store_index, name="store"),
    path("store/cart/", views.cart_view, name="cart"),
    path("store/cart/add/", views.cart_add, name="cart_add"),
    path("store/cart/update/", views.cart_update, name="cart_update"),
    path("store/checkout/", views.checkout, name="checkout"),
    path("orders/<int:order_id>/", views.order_detail, name="order"),
    path("orders/<int:order_id>/status.json", views.order_status, name="order_status"),
    path("packets/", views.my_packets, name="my_packets"),
]

earn_urlpatterns = [
    path("claim/", views_earn.claim_enter, name="claim"),
    path("claim/campaign/<int:campaign_id>/", views_earn.claim_campaign, name="claim_campaign"),
    path("claim/<str:code>/", views_earn.claim_code, name="claim_code"),
    path("checkin/", views_earn.checkin, name="checkin"),
    path("share/", views_earn.share, name="share"),
    path("orders/<int:order_id>/trace/", rebates_views.order_trace, name="order_trace"),
]

api_urlpatterns = [
    path("orders/", api.OrderCreateApi.as_view(), name="api-orders-create"),
    path("orders/<int:order_id>/", api.OrderDetailApi.as_view(), name="api-orders-detail"),
    path("orders/<int:order_id>/refunds/", api.OrderRefundApi.as_view(), name="api-orders-refunds"),
    path("packets/", api.PacketListApi.as_view(), name="api-packets"),
    path("packets/claim/", api_batch.PacketClaimApi.as_view(), name="api-packets-claim"),
]
