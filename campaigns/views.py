from django.shortcuts import get_object_or_404, render

from .describe import describe_earn, describe_limits, describe_rebates
from .models import Campaign
from .selectors import campaign_with_rules


def rules_page(request, campaign_id: int):
    """The public rules of a campaign: who organises it, whether they are verified, and every rule in plain words —
    so nobody has to take a "double rebate" promise on trust (seed: 發紅包雙倍返 — real or scam)."""
    get_object_or_404(Campaign.objects.exclude(status=Campaign.Status.DRAFT), pk=campaign_id)
    campaign = campaign_with_rules(campaign_id)
    return render(
        request,
        "campaigns/rules.html",
        {
            "campaign": campaign,
            "earn": [describe_earn(rule) for rule in campaign.earn_rules.all()],
            "rebates": describe_rebates(campaign),
            "limits": describe_limits(campaign),
        },
    )
