import pytest
from django.core.management import call_command

from campaigns.models import Campaign
from packets.models import Packet
from rebates.models import Entry


@pytest.mark.django_db
def test_demo_data_loads_the_seed_campaigns_and_is_idempotent():
    call_command("load_demo_data")
    counts = (Campaign.objects.count(), Packet.objects.count(), Entry.objects.count())
    call_command("load_demo_data")
    assert (Campaign.objects.count(), Packet.objects.count(), Entry.objects.count()) == counts
    assert counts[0] == 2
    rule = Campaign.objects.get(name__startswith="满200").rebate_rule
    assert (str(rule.issuer_rate), str(rule.holder_rate)) == ("10.00", "5.00")
    call_command("audit")
