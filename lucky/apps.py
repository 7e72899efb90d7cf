from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class LuckyConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "lucky"
    verbose_name = _("Lucky money")

    def ready(self):
        from rebates.audit import audit_checks_register

        from .audit import lucky_audit

        audit_checks_register(lucky_audit)
