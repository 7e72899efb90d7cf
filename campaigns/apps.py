from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self):
        from rebates.audit import audit_checks_register
        from rebates.outbox import outbox_topic_register

        from .programs.audit import programs_audit_checks
        from .programs.orders import TOPIC_ORDER_PROGRAMS
        from .programs.tasks import order_program_effects

        outbox_topic_register(TOPIC_ORDER_PROGRAMS, order_program_effects)
        audit_checks_register(programs_audit_checks)
