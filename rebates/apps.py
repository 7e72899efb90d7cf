from django.apps import AppConfig


class RebatesConfig(AppConfig):
    name = "rebates"
    verbose_name = "Rebates"

    def ready(self):
        from .outbox import TOPIC_REBATES_BATCH, TOPIC_REDEMPTION_REBATES, outbox_topic_register
        from .tasks import credit_rebates_batch, credit_redemption_rebates

        outbox_topic_register(TOPIC_REDEMPTION_REBATES, credit_redemption_rebates)
        outbox_topic_register(TOPIC_REBATES_BATCH, credit_rebates_batch)
