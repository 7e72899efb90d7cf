from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PacketsConfig(AppConfig):
    name = "packets"
    verbose_name = _("Packets")

    def ready(self):
        from accounts.events import PacketsEarned
        from campaigns.events import CampaignClosing
        from common.events import subscribe

        from .subscribers import expire_closing_campaigns_packets, issue_earned_packets

        subscribe(PacketsEarned, issue_earned_packets)
        subscribe(CampaignClosing, expire_closing_campaigns_packets)
