from django.urls import path

from . import api, views

app_name = "lucky"

urlpatterns = [
    path("api/v1/lucky/packets/", api.PacketCreateApi.as_view(), name="api-packets-create"),
    path("api/v1/lucky/packets/sent/", api.PacketsSentApi.as_view(), name="api-packets-sent"),
    path("api/v1/lucky/packets/received/", api.SharesReceivedApi.as_view(), name="api-packets-received"),
    path("api/v1/lucky/packets/<int:packet_id>/", api.PacketDetailApi.as_view(), name="api-packets-detail"),
    path("api/v1/lucky/packets/<int:packet_id>/grab/", api.PacketGrabApi.as_view(), name="api-packets-grab"),
    path("api/v1/lucky/groups/", api.GroupListCreateApi.as_view(), name="api-groups"),
    path("api/v1/lucky/groups/join/", api.GroupJoinApi.as_view(), name="api-groups-join"),
    path("api/v1/lucky/groups/<int:group_id>/", api.GroupDetailApi.as_view(), name="api-groups-detail"),
    path("api/v1/lucky/groups/<int:group_id>/leave/", api.GroupLeaveApi.as_view(), name="api-groups-leave"),
    # pages
    path("lucky/", views.my_groups, name="groups"),
    path("lucky/groups/<int:group_id>/", views.group_room, name="room"),
    path("lucky/groups/<int:group_id>/send/", views.packet_send, name="send"),
    path("lucky/groups/<int:group_id>/leave/", views.group_leave, name="leave"),
    path("lucky/groups/<int:group_id>/timeline.json", views.room_timeline, name="timeline"),
    path("lucky/packets/<int:packet_id>/grab/", views.packet_grab, name="grab"),
    path("lucky/join/<str:token>/", views.group_join, name="join"),
]
