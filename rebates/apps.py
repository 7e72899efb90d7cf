from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class RebatesConfig(AppConfig):
    name = "rebates"
    verbose_name = _("Rebates")

    def ready(self):
        from .outbox import TOPIC_REBATES_BATCH, TOPIC_REDEMPTION_REBATES, outbox_topic_register
        from .tasks import credit_rebates_batch, credit_redemption_rebates

        outbox_topic_register(TOPIC_REDEMPTION_REBATES, credit_redemption_rebates)
        outbox_topic_register(TOPIC_REBATES_BATCH, credit_rebates_batch)
