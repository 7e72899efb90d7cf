from django.urls import path

from . import views

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
