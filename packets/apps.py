from django.apps import AppConfig


class PacketsConfig(AppConfig):
    name = "packets"
    verbose_name = "Packets"

    def ready(self):
        from accounts.events import PacketsEarned
        from campaigns.events import CampaignClosing
        from common.events import subscribe

        from .subscribers import expire_closing_campaigns_packets, issue_earned_packets

        subscribe(PacketsEarned, issue_earned_packets)
        subscribe(CampaignClosing, expire_closing_campaigns_packets)
