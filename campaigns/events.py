"""What campaigns announce to the apps above them (common.events)."""

from dataclasses import dataclass


@dataclass(frozen=True)
class CampaignClosing:
    """A campaign is ending, inside its closing transaction, before its budget goes back to its funder: whatever
    still holds its money (unspent packets) must return it now."""

    campaign_id: int
