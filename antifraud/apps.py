from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AntifraudConfig(AppConfig):
    name = "antifraud"
    verbose_name = _("Antifraud")

    def ready(self):
        from common.events import subscribe
        from rebates.events import RebateBlocked

        from .subscribers import reject_blocked_rebate

        subscribe(RebateBlocked, reject_blocked_rebate)
