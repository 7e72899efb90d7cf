from django.apps import AppConfig


class AntifraudConfig(AppConfig):
    name = "antifraud"
    verbose_name = "Antifraud"

    def ready(self):
        from common.events import subscribe
        from rebates.events import RebateBlocked

        from .subscribers import reject_blocked_rebate

        subscribe(RebateBlocked, reject_blocked_rebate)
