from django.apps import AppConfig


class PacketsConfig(AppConfig):
    name = "packets"
    verbose_name = "Packets"
