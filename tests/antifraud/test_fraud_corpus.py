"""The fraud corpus, small (bench/fraud_corpus.py, `Config.small()`): honest shoppers and every attack kind through
the real pages and API, two simulated days, then the lucky-money phase (bench/fraud_lucky.py); the targets of issue #6
on it, and a clean audit after it.

The figures of the full corpus are in docs/ANTIFRAUD.md, "Evaluation"."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from accounts.models import User
from antifraud.detectors import detect_all, detect_packet_farms
from antifraud.models import EarningEvent, Finding
from bench.fraud_corpus import TARGET_CAUGHT, TARGET_HONEST_HELD, Config, corpus_time_zone, format_report, run_corpus
from campaigns.models import Campaign, EarnRule
from campaigns.services import campaign_fund, platform_pool_fund
from packets.models import Packet
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import CampaignFactory, RebateRuleFactory

D = Decimal


@pytest.fixture
def corpus_clock(settings):
    """The corpus runs where the wall clock reads 12:xx (its simulated days then fall on whole local dates)."""
    settings.TIME_ZONE = corpus_time_zone()


@pytest.mark.timeout(900)  # the rebate corpus (~80 s) and the lucky phase (~60 s), on a shared machine
@pytest.mark.django_db(transaction=True)
def test_the_small_corpus_meets_the_targets(corpus_clock):
    report = run_corpus(Config.small(), log=lambda message: None)
    table = format_report(report)
    print(table)  # shown with -s

    outcomes = {a["outcome"] for a in report["attempts"]}
    assert outcomes <= {"paid", "held", "partly_held", "blocked", "deferred"}, outcomes  # every attempt settled
    for kind, row in report["kinds"].items():
        if "note" in row:  # circular flows of rebate packets: no page or API can make them
            continue
        assert row["attempts"] > 0, kind
        assert row["blocked"] + row["held"] + row["paid"] + row["deferred"] == row["value"], kind
        if kind.startswith("lucky_"):
            # Lucky laundering: only each ring's, chain's or puppet phone's first hop is ever paid (a plain gift on
            # its own). Over two small days that first hop can pass 5 % of the value (a batched ring of three: 8 %),
            # so the % target is the full corpus's (docs/ANTIFRAUD.md, "Lucky money"); here: nothing after it.
            assert row["paid_after_first_hop"] == 0, f"{kind}: paid after the first hop\n{table}"
            continue
        assert row["caught_pct"] >= TARGET_CAUGHT, f"{kind}: {row['caught_pct']:.1f} % held or blocked\n{table}"
    honest = report["honest"]
    assert honest["earned"] > 0 and honest["blocked"] + honest["earned"] + honest["deferred"] == honest["value"]
    assert honest["held_pct"] <= TARGET_HONEST_HELD, f"honest: {honest['held_pct']:.2f} % held\n{table}"
    lucky = report["lucky_honest"]
    assert lucky["attempts"] > 0 and lucky["refused_pct"] <= TARGET_HONEST_HELD, f"lucky honest refused\n{table}"
    call_command("audit")


# --- what the corpus found, pinned -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_friend_signing_up_through_my_link_on_their_own_phone_is_no_finding_against_either_of_us():
    """The share packet the inviter receives is recorded with the invitee's sign-up IP and device (the limits count it
    there); the detectors must not read those as the inviter's own — the corpus found every honest referral reported
    as a self-referral before they stopped doing so."""
    campaign = CampaignFactory(merchant=None, participants=Campaign.Participants.PLATFORM_USER)
    for trigger, amount in (("registration", "10.00"), ("referral", "10.00"), ("share", "5.00")):
        EarnRule.objects.create(campaign=campaign, trigger=trigger, packet_amount=D(amount), min_spend=D("30.00"))
    RebateRuleFactory(campaign=campaign, issuer_rate=D("5.00"), holder_rate=D("5.00"))
    platform_pool_fund(amount=D("100.00"), idempotency_key="pool:referral-test")
    campaign_fund(campaign=campaign, amount=D("100.00"), idempotency_key="fund:referral-test")
    inviter = UserFactory()
    friend_phone = Client(REMOTE_ADDR="10.44.0.7")
    body = {"account": "13912345678", "password1": "Corpus-pass-77", "password2": "Corpus-pass-77"}
    response = friend_phone.post("/accounts/signup/", {**body, "invite_code": inviter.invite_code})
    assert response.status_code == 302
    friend = User.objects.get(phone="13912345678")
    assert Packet.objects.filter(holder=inviter, channel="share").exists()  # the inviter was rewarded

    detect_all()

    assert not Finding.objects.filter(user_ids__overlap=[inviter.pk, friend.pk]).exists()


def _claims_from(ip: str, accounts: list[User], campaign) -> None:
    for user in accounts:
        packet = Packet.objects.create(
            code=f"NAT-{user.pk}",
            campaign=campaign,
            holder=user,
            issuer_merchant=campaign.merchant,
            amount=D("10.00"),
            min_spend=D("0.00"),
            issued_at=timezone.now(),
            expires_at=timezone.now() + timedelta(days=30),
        )
        EarningEvent.objects.create(kind="claim", campaign=campaign, packet=packet, user=user, ip=ip, at=timezone.now())


@pytest.mark.django_db
def test_established_colleagues_behind_one_office_ip_are_no_packet_farm_but_fresh_accounts_are():
    """Accounts sharing a NAT (office, campus, carrier) are ordinary; a farm behind one connection is made of fresh
    accounts. The corpus held most office and campus shoppers' rebates while every account counted."""
    campaign = CampaignFactory()
    colleagues = [UserFactory(date_joined=timezone.now() - timedelta(days=days)) for days in (40, 300, 800)]
    _claims_from("172.16.9.1", colleagues, campaign)
    assert detect_packet_farms() == []

    fresh = [UserFactory() for _ in range(3)]
    _claims_from("172.16.9.2", fresh, campaign)
    (finding,) = detect_packet_farms()
    assert finding.fingerprint.startswith("ip:172.16.9.2:") and finding.user_ids == sorted(u.pk for u in fresh)
