"""What the packets app does when a lower layer announces something (common.events); subscribed in PacketsConfig."""

from accounts.events import PacketsEarned
from campaigns.events import CampaignClosing

from .models import Packet
from .services import packets_expire_for_campaign, packets_issue_for_event


def issue_earned_packets(event: PacketsEarned) -> list[Packet]:
    return packets_issue_for_event(
        trigger=event.trigger,
        shopper=event.shopper,
        issuer_user=event.issuer_user,
        context=event.context,
        now=event.now,
    )


def expire_closing_campaigns_packets(event: CampaignClosing) -> None:
    packets_expire_for_campaign(campaign_id=event.campaign_id)
