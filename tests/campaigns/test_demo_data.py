import pytest
from django.core.management import call_command
from django.db import connection

from campaigns.models import Campaign
from packets.models import Packet
from rebates.models import Entry


def _planned_rows(table: str) -> float:
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


@pytest.mark.django_db
def test_demo_data_loads_the_seed_campaigns_and_is_idempotent():
    call_command("load_demo_data")
    counts = (Campaign.objects.count(), Packet.objects.count(), Entry.objects.count())
    # The load leaves planner statistics that count its rows: else its rollup pass is planned from the tables'
    # statistics before it (see reports.demo) and can take minutes.
    assert _planned_rows("packets_packet") >= counts[1] * 0.9
    call_command("load_demo_data")
    assert (Campaign.objects.count(), Packet.objects.count(), Entry.objects.count()) == counts
    assert counts[0] == 2
    rule = Campaign.objects.get(name__startswith="满200").rebate_rule
    assert (str(rule.issuer_rate), str(rule.holder_rate)) == ("10.00", "5.00")
    call_command("audit")
