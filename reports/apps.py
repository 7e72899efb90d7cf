from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "reports"
    verbose_name = _("Reports")

    def ready(self):
        from rebates.audit import audit_checks_register

        from .services import rollups_audit

        audit_checks_register(rollups_audit)
