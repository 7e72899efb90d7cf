from django.apps import AppConfig


class AntifraudConfig(AppConfig):
    name = "antifraud"
    verbose_name = "Antifraud"
