from django.apps import AppConfig


class RebatesConfig(AppConfig):
    name = "rebates"
    verbose_name = "Rebates"
