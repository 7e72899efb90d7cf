"""Batch generation (紅包生成), claim by code, CSV export and posters."""

import io
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.admin import AdminSite
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.urls import include, path
from django.utils import timezone
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts import roles
from accounts.models import MerchantStaff
from campaigns.admin import CampaignAdmin
from campaigns.admin_batch import BatchAdminMixin
from campaigns.models import Campaign, EarnRule
from campaigns.selectors import campaign_budget_account, campaign_outstanding_account
from packets import batch as batches
from packets import codes, posters
from packets import urls as packets_urls
from packets.models import Packet, PacketBatch
from packets.services import LineInput, order_create, packets_expire_due
from rebates.models import Entry, LedgerTransaction
from tests.conftest import race
from tests.factories.accounts import MerchantStaffFactory, UserFactory
from tests.factories.campaigns import two_way_campaign

# --- a URL conf with the batch admin wired exactly as docs/BATCH.md tells, and the claim API ---------------------

site = AdminSite(name="admin")
_bases = (CampaignAdmin,) if issubclass(CampaignAdmin, BatchAdminMixin) else (BatchAdminMixin, CampaignAdmin)
site.register(Campaign, type("BatchCampaignAdmin", _bases, {}))
urlpatterns = [
    path("admin/", site.urls),
    path("api/v1/", include(packets_urls.api_urlpatterns)),
    path("accounts/", include("accounts.urls")),
]
URLS = pytest.mark.urls(__name__)


def balances(campaign) -> tuple[Decimal, Decimal]:
    return campaign_budget_account(campaign).balance, campaign_outstanding_account(campaign).balance


def audit_clean(**options):
    out = io.StringIO()
    call_command("audit", stdout=out, **options)
    assert "audit clean" in out.getvalue()


def generate(campaign, count, **kwargs) -> PacketBatch:
    return batches.packets_generate(campaign=campaign, count=count, **kwargs)


# --- generation -------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_batch_reserves_exactly_its_total_in_one_ledger_transaction():
    campaign = two_way_campaign(budget="1000.00", allowed_categories=["fruit"])
    txns_before = LedgerTransaction.objects.count()

    batch = generate(campaign, 40, valid_days=7)

    assert batch.status == "done" and batch.generated == 40 and batch.total == Decimal("400.00")
    assert balances(campaign) == (Decimal("600.00"), Decimal("400.00"))
    assert LedgerTransaction.objects.count() == txns_before + 1
    txn = LedgerTransaction.objects.get(idempotency_key=f"batch:{batch.pk}")
    assert sorted(Entry.objects.filter(transaction=txn).values_list("amount", flat=True)) == [
        Decimal("-400.00"),
        Decimal("400.00"),
    ]
    packets = Packet.objects.filter(batch=batch)
    assert packets.count() == 40
    packet = packets.first()
    assert packet.holder_id is None and packet.channel == "batch" and packet.status == "issued"
    assert packet.amount == Decimal("10.00") and packet.min_spend == Decimal("50.00")
    assert packet.categories == ["fruit"] and packet.issuer_merchant_id == campaign.merchant_id
    assert packet.expires_at - packet.issued_at == timedelta(days=7)
    campaign.refresh_from_db()
    assert campaign.packets_issued == 40
    audit_clean()


@pytest.mark.django_db(transaction=True)
def test_tiered_batch_reserves_the_sum_of_the_drawn_amounts_and_codes_are_unique():
    campaign = two_way_campaign(budget="60000.00")

    batch = generate(campaign, 5000, tiers="5.00:70, 10.00:30", chunk_size=1200)

    packets = Packet.objects.filter(batch=batch)
    amounts = list(packets.values_list("amount", flat=True))
    assert len(amounts) == 5000
    assert batch.total == sum(amounts) == campaign_outstanding_account(campaign).balance
    fives = amounts.count(Decimal("5.00"))
    assert fives + amounts.count(Decimal("10.00")) == 5000
    assert 0.65 < fives / 5000 < 0.75  # 70 % by weight; 5 000 draws put it within ±5 % far beyond 6 sigma
    all_codes = list(packets.values_list("code", flat=True))
    assert len(set(all_codes)) == 5000
    assert all(codes.normalize(c) == c for c in all_codes)
    audit_clean()


def test_bulk_codes_use_the_whole_alphabet_in_the_packet_code_format():
    many = batches.new_codes(2000)
    assert len(set(many)) == 2000
    assert all(codes.normalize(c) == c and len(c) == 19 for c in many)
    assert set("".join(many).replace("-", "")) == set(codes.ALPHABET)


@pytest.mark.django_db(transaction=True)
def test_a_batch_beyond_the_budget_is_refused_with_nothing_written():
    campaign = two_way_campaign(budget="100.00")
    txns_before = LedgerTransaction.objects.count()

    with pytest.raises(CommandError, match="budget_exhausted"):
        call_command("generate_packets", "--campaign", campaign.pk, "--count", 11, "--no-progress")

    assert balances(campaign) == (Decimal("100.00"), Decimal("0.00"))
    assert not PacketBatch.objects.exists() and not Packet.objects.exists()
    assert LedgerTransaction.objects.count() == txns_before
    campaign.refresh_from_db()
    assert campaign.packets_issued == 0


@pytest.mark.django_db(transaction=True)
def test_budget_spent_while_the_copy_ran_rolls_the_whole_batch_back(monkeypatch):
    """The unlocked pre-check passed, then the budget was spent: the check under the lock refuses, and the COPYed
    packets go with the transaction."""
    campaign = two_way_campaign(budget="100.00")
    monkeypatch.setattr(batches, "_precheck", lambda **kwargs: None)

    with pytest.raises(batches.BudgetExhausted):
        generate(campaign, 11)

    assert not Packet.objects.exists() and not PacketBatch.objects.exists()
    assert balances(campaign) == (Decimal("100.00"), Decimal("0.00"))
    audit_clean()


@pytest.mark.django_db(transaction=True)
def test_the_campaign_packet_limit_counts_the_batch_in_one_statement():
    campaign = two_way_campaign(budget="1000.00")
    Campaign.objects.filter(pk=campaign.pk).update(packet_limit=10)

    with pytest.raises(batches.BatchRefused) as refused:
        generate(campaign, 11)
    assert refused.value.code == "campaign_limit_reached"
    generate(campaign, 10)
    with pytest.raises(batches.BatchRefused):
        generate(campaign, 1)

    campaign.refresh_from_db()
    assert campaign.packets_issued == 10
    assert Packet.objects.count() == 10
    assert balances(campaign) == (Decimal("900.00"), Decimal("100.00"))


@pytest.mark.django_db(transaction=True)
def test_without_the_right_to_skip_fk_triggers_the_batch_is_checked_row_by_row(monkeypatch):
    """A database role that may not set session_replication_role gets the plain COPY (every foreign key checked by
    PostgreSQL): slower, same result."""
    campaign = two_way_campaign(budget="1000.00")
    monkeypatch.setattr(batches, "_skip_fk_triggers_allowed", lambda: False)

    batch = generate(campaign, 30, chunk_size=7)

    assert Packet.objects.filter(batch=batch).count() == 30
    assert balances(campaign) == (Decimal("700.00"), Decimal("300.00"))
    audit_clean()


@pytest.mark.django_db(transaction=True)
def test_the_fast_path_is_taken_here_and_leaves_the_session_as_it_was():
    campaign = two_way_campaign(budget="1000.00")
    assert batches._skip_fk_triggers_allowed()  # the test database role is a superuser

    generate(campaign, 5)

    with connection.cursor() as cursor:
        cursor.execute("SELECT current_setting('session_replication_role')")
        assert cursor.fetchone()[0] == "origin"


@pytest.mark.django_db(transaction=True)
def test_a_code_collision_redoes_only_that_chunk(monkeypatch):
    campaign = two_way_campaign(budget="1000.00")
    first = generate(campaign, 3)
    taken = Packet.objects.filter(batch=first).values_list("code", flat=True).first()
    real = batches.new_codes
    calls = []

    def colliding(n):
        calls.append(n)
        fresh = real(n)
        return [taken, *fresh[1:]] if len(calls) == 2 else fresh  # the second chunk collides once

    monkeypatch.setattr(batches, "new_codes", colliding)
    second = generate(campaign, 10, chunk_size=4)

    assert calls == [4, 4, 4, 2]  # chunk 2 was drawn twice
    assert Packet.objects.filter(batch=second).count() == 10
    assert Packet.objects.filter(code=taken).count() == 1
    assert campaign_outstanding_account(campaign).balance == Decimal("130.00")
    audit_clean()


@pytest.mark.django_db(transaction=True)
def test_the_command_reports_progress_and_the_batch():
    campaign = two_way_campaign(budget="1000.00")
    rule = EarnRule.objects.create(campaign=campaign, trigger="manual", packet_amount=Decimal("2.00"), valid_days=3)
    out, err = io.StringIO(), io.StringIO()

    call_command(
        "generate_packets",
        "--campaign",
        campaign.pk,
        "--count",
        50,
        "--rule",
        rule.pk,
        "--tiers",
        "1.00:1,3.00:1",
        "--valid-days",
        5,
        "--chunk-size",
        10,
        stdout=out,
        stderr=err,
    )

    batch = PacketBatch.objects.get()
    assert batch.earn_rule == rule and batch.valid_days == 5 and batch.tiers == "1.00:1,3.00:1"
    assert f"Batch {batch.pk}: 50 packets" in out.getvalue()
    assert "100.0% 50/50" in err.getvalue()
    assert set(Packet.objects.values_list("amount", flat=True)) <= {Decimal("1.00"), Decimal("3.00")}


@pytest.mark.django_db
def test_the_command_refuses_bad_input_clearly():
    campaign = two_way_campaign(budget="1000.00")
    with pytest.raises(CommandError, match="invalid_tiers"):
        call_command("generate_packets", "--campaign", campaign.pk, "--count", 5, "--tiers", "5:x", "--no-progress")
    with pytest.raises(CommandError, match="No campaign"):
        call_command("generate_packets", "--campaign", 999999, "--count", 5)
    Campaign.objects.filter(pk=campaign.pk).update(status="ended")
    with pytest.raises(CommandError, match="campaign_ended"):
        call_command("generate_packets", "--campaign", campaign.pk, "--count", 5, "--no-progress")


@pytest.mark.django_db(transaction=True)
def test_unclaimed_batch_packets_expire_back_to_the_budget():
    campaign = two_way_campaign(budget="100.00")
    generate(campaign, 3, valid_days=1)

    packets_expire_due(now=timezone.now() + timedelta(days=2))

    assert balances(campaign) == (Decimal("100.00"), Decimal("0.00"))
    assert set(Packet.objects.values_list("status", flat=True)) == {"expired"}
    audit_clean()


# --- the console's path: request, task, progress ----------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_batch_run_is_safe_to_run_twice_and_records_a_refusal():
    campaign = two_way_campaign(budget="100.00")
    ok = PacketBatch.objects.create(campaign=campaign, earn_rule=campaign.earn_rules.get(), count=5, valid_days=3)
    too_big = PacketBatch.objects.create(campaign=campaign, earn_rule=campaign.earn_rules.get(), count=9, valid_days=3)

    assert batches.batch_run(batch_id=ok.pk).status == "done"
    assert batches.batch_run(batch_id=ok.pk).status == "done"
    refused = batches.batch_run(batch_id=too_big.pk)

    assert Packet.objects.filter(batch=ok).count() == 5
    assert LedgerTransaction.objects.filter(idempotency_key__startswith="batch:").count() == 1
    assert refused.status == "failed" and "cannot cover" in refused.error
    assert not Packet.objects.filter(batch=too_big).exists()
    assert batches.batch_progress(refused)["generated"] == 0
    audit_clean()


@pytest.mark.django_db(transaction=True)
def test_a_redelivered_task_leaves_a_batch_another_worker_is_generating_alone():
    campaign = two_way_campaign(budget="100.00")
    batch = PacketBatch.objects.create(
        campaign=campaign, earn_rule=campaign.earn_rules.get(), count=5, valid_days=3, status="running"
    )
    locked, release = threading.Event(), threading.Event()

    def first_worker():  # holds the batch row as a generating worker does
        try:
            with transaction.atomic():
                PacketBatch.objects.select_for_update().get(pk=batch.pk)
                locked.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=first_worker)
    holder.start()
    assert locked.wait(30)
    try:
        second = batches.batch_run(batch_id=batch.pk)
    finally:
        release.set()
        holder.join(30)

    assert second.status == "running"
    assert not Packet.objects.exists()
    assert batches.batch_run(batch_id=batch.pk).status == "done"  # once free, it is generated (once)
    assert Packet.objects.filter(batch=batch).count() == 5


@pytest.mark.celery_worker
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_generates_a_requested_batch(request):
    from packets import tasks

    if not hasattr(tasks, "generate_batch_task"):
        pytest.skip("packets/tasks.py does not import generate_batch_task yet (see docs/BATCH.md)")
    request.getfixturevalue("celery_worker")
    from tests.conftest import wait_for

    campaign = two_way_campaign(budget="1000.00")
    batch = batches.batch_request(campaign=campaign, count=30)
    wait_for(lambda: PacketBatch.objects.get(pk=batch.pk).status == "done", timeout=60)
    assert Packet.objects.filter(batch=batch).count() == 30


# --- claim ------------------------------------------------------------------------------------------------------


@pytest.fixture
def batch_packets(db):
    campaign = two_way_campaign(budget="1000.00")
    batch = generate(campaign, 5)
    return list(Packet.objects.filter(batch=batch).order_by("pk"))


def test_claim_sets_the_holder_once_and_is_idempotent_for_the_same_user(batch_packets):
    packet = batch_packets[0]
    alice, bob = UserFactory(), UserFactory()

    typed = packet.code.lower().replace("-", " ")
    claimed = batches.packet_claim(code=typed, user=alice)
    again = batches.packet_claim(code=packet.code, user=alice)
    with pytest.raises(batches.PacketAlreadyClaimed):
        batches.packet_claim(code=packet.code, user=bob)

    assert claimed.pk == again.pk == packet.pk
    packet.refresh_from_db()
    assert packet.holder == alice


def test_claim_refuses_unknown_expired_and_stopped(batch_packets):
    user = UserFactory()
    with pytest.raises(batches.PacketNotFound):
        batches.packet_claim(code="0000-0000-0000-0000", user=user)
    with pytest.raises(batches.PacketNotFound):
        batches.packet_claim(code="not a code", user=user)

    expired, paused = batch_packets[0], batch_packets[1]
    Packet.objects.filter(pk=expired.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(batches.PacketUnusable) as refused:
        batches.packet_claim(code=expired.code, user=user)
    assert refused.value.code == "packet_expired"

    Campaign.objects.filter(pk=paused.campaign_id).update(status="paused")
    with pytest.raises(batches.PacketUnusable) as refused:
        batches.packet_claim(code=paused.code, user=user)
    assert refused.value.code == "campaign_not_active"
    assert not Packet.objects.filter(holder=user).exists()


def test_per_user_limit_is_enforced_on_claim(batch_packets):
    Campaign.objects.filter(pk=batch_packets[0].campaign_id).update(per_user_limit=2)
    user = UserFactory()
    batches.packet_claim(code=batch_packets[0].code, user=user)
    batches.packet_claim(code=batch_packets[1].code, user=user)

    with pytest.raises(batches.PacketUnusable) as refused:
        batches.packet_claim(code=batch_packets[2].code, user=user)

    assert refused.value.code == "per_user_limit_reached"
    assert Packet.objects.filter(holder=user).count() == 2
    batches.packet_claim(code=batch_packets[2].code, user=UserFactory())  # others still can


@pytest.mark.django_db(transaction=True)
def test_ten_users_claiming_one_code_at_once_make_exactly_one_winner():
    campaign = two_way_campaign(budget="100.00")
    packet = Packet.objects.get(batch=generate(campaign, 1))
    users = [UserFactory() for _ in range(10)]

    results = race([lambda u=u: batches.packet_claim(code=packet.code, user=u) for u in users])

    winners = [r for r in results if isinstance(r, Packet)]
    losers = [r for r in results if isinstance(r, batches.PacketAlreadyClaimed)]
    assert len(winners) == 1 and len(losers) == 9, results
    packet.refresh_from_db()
    assert packet.holder_id == winners[0].holder.pk


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_by_one_user_never_pass_the_per_user_limit():
    campaign = two_way_campaign(budget="100.00")
    Campaign.objects.filter(pk=campaign.pk).update(per_user_limit=2)
    packets = list(Packet.objects.filter(batch=generate(campaign, 6)))
    user = UserFactory()

    results = race([lambda p=p: batches.packet_claim(code=p.code, user=user) for p in packets])

    assert sum(isinstance(r, Packet) for r in results) == 2, results
    assert Packet.objects.filter(holder=user).count() == 2


@pytest.mark.django_db(transaction=True)
def test_orders_of_the_campaign_do_not_wait_for_a_batch_being_written():
    """While a batch's COPY runs, the campaign's packets are spent as usual: the batch takes its locks at the end."""
    campaign = two_way_campaign(budget="1000.00")
    packet = Packet.objects.get(batch=generate(campaign, 1))
    shopper = UserFactory()
    batches.packet_claim(code=packet.code, user=shopper)
    paused, resume = threading.Event(), threading.Event()

    def progress(done, total):
        if done < total:
            paused.set()
            resume.wait(30)

    def write_batch():
        try:
            return generate(campaign, 20, chunk_size=10, progress=progress)
        finally:
            connection.close()

    writer = threading.Thread(target=lambda: results.append(write_batch()))
    results: list = []
    writer.start()
    assert paused.wait(30)  # half the batch is COPYed, its transaction open
    spent = []

    def spend():
        try:
            spent.append(
                order_create(
                    merchant=campaign.merchant,
                    shopper=shopper,
                    order_no="DURING-BATCH",
                    lines=[LineInput(sku="M", name="Mango", category="fruit", quantity=1, unit_price=Decimal("60"))],
                    gross_amount=Decimal("60"),
                    packet_code=packet.code,
                )
            )
        finally:
            connection.close()

    buyer = threading.Thread(target=spend)
    buyer.start()
    buyer.join(10)
    done_while_paused = not buyer.is_alive()
    resume.set()
    buyer.join(30)
    writer.join(60)

    assert done_while_paused, "the order waited for the batch"
    assert spent and spent[0].discount == Decimal("10.00")
    assert results and Packet.objects.filter(batch=results[0]).count() == 20
    audit_clean(outbox_grace=3600)


@pytest.mark.django_db(transaction=True)
def test_a_claimed_batch_packet_pays_at_checkout():
    campaign = two_way_campaign(budget="1000.00", allowed_categories=["fruit", 'odd "quoted" \\ cat'])
    packet = Packet.objects.get(batch=generate(campaign, 1))
    assert packet.categories == ["fruit", 'odd "quoted" \\ cat']
    shopper = UserFactory()
    batches.packet_claim(code=packet.code, user=shopper)

    order = order_create(
        merchant=campaign.merchant,
        shopper=shopper,
        order_no="B-1",
        lines=[LineInput(sku="M", name="Mango", category="fruit", quantity=1, unit_price=Decimal("60.00"))],
        gross_amount=Decimal("60.00"),
        packet_code=packet.code,
    )

    assert order.discount == Decimal("10.00")
    packet.refresh_from_db()
    assert packet.status == "used"
    audit_clean(outbox_grace=3600)  # the rebate worker is not running here


# --- claim API --------------------------------------------------------------------------------------------------


@URLS
def test_claim_api_returns_the_packet_for_a_signed_in_shopper(batch_packets, client):
    shopper = UserFactory()
    client.force_login(shopper)
    code = batch_packets[0].code

    reply = client.post("/api/v1/packets/claim/", {"code": code.lower()}, content_type="application/json")

    assert reply.status_code == 200, reply.content
    body = reply.json()
    assert body["code"] == code and body["amount"] == "10.00" and body["status"] == "issued"
    assert body["campaign"] == batch_packets[0].campaign.name
    assert Packet.objects.get(code=code).holder == shopper


@URLS
def test_claim_api_errors_have_the_stable_shape(batch_packets):
    api = APIClient()
    assert api.post("/api/v1/packets/claim/", {"code": "x"}, format="json").status_code in (401, 403)

    first = UserFactory()
    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=first).key}")
    assert api.post("/api/v1/packets/claim/", {"code": batch_packets[0].code}, format="json").status_code == 200

    api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=UserFactory()).key}")
    taken = api.post("/api/v1/packets/claim/", {"code": batch_packets[0].code}, format="json")
    missing = api.post("/api/v1/packets/claim/", {"code": "ZZZZ-ZZZZ-ZZZZ-ZZZZ"}, format="json")
    empty = api.post("/api/v1/packets/claim/", {}, format="json")

    assert taken.status_code == 409 and taken.json()["code"] == "packet_already_claimed"
    assert missing.status_code == 404 and missing.json()["code"] == "packet_not_found"
    assert empty.status_code == 400 and empty.json()["code"] == "invalid"
    assert set(taken.json()) == {"code", "message", "details"}


@URLS
def test_merchant_staff_cannot_claim(batch_packets, merchant_client):
    reply = merchant_client.post("/api/v1/packets/claim/", {"code": batch_packets[0].code}, format="json")
    assert reply.status_code == 403 and reply.json()["code"] == "not_a_shopper"


# --- console: action, form, progress, export, poster ------------------------------------------------------------


@pytest.fixture
def operator(client):
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def manager_of_other_merchant(client):
    staff = MerchantStaffFactory(role=MerchantStaff.Role.CAMPAIGN_MANAGER, user__is_staff=True)
    staff.user.groups.add(Group.objects.get(name=roles.CAMPAIGN_MANAGER))
    client.force_login(staff.user)
    return client


@URLS
@pytest.mark.django_db
def test_the_action_leads_to_the_form_which_starts_the_task_and_the_progress_polls(
    operator, monkeypatch, django_capture_on_commit_callbacks
):
    campaign = two_way_campaign(budget="1000.00")
    other = two_way_campaign(budget="0")
    monkeypatch.setattr(batches.generate_batch_task, "delay", lambda batch_id: batches.batch_run(batch_id=batch_id))
    changelist = "/admin/campaigns/campaign/"

    two = operator.post(changelist, {"action": "generate_packets", "_selected_action": [campaign.pk, other.pk]})
    one = operator.post(changelist, {"action": "generate_packets", "_selected_action": [campaign.pk]})
    assert two.status_code == 302 and two.url == changelist
    assert one.status_code == 302 and one.url == f"/admin/campaigns/campaign/{campaign.pk}/generate/"

    form = operator.get(one.url)
    assert form.status_code == 200 and b'name="count"' in form.content
    token = form.context["form"].initial["token"]
    data = {"count": 30, "rule": campaign.earn_rules.get().pk, "tiers": "", "valid_days": "", "token": token}
    with django_capture_on_commit_callbacks(execute=True):
        started = operator.post(one.url, data)
    again = operator.post(one.url, data)  # the same form submitted twice generates once

    batch = PacketBatch.objects.get()
    assert started.status_code == 302 and started.url == f"/admin/campaigns/campaign/batches/{batch.pk}/"
    assert again.status_code == 302 and again.url == started.url
    progress = operator.get(f"/admin/campaigns/campaign/batches/{batch.pk}/progress.json").json()
    assert progress["status"] == "done" and progress["generated"] == progress["count"] == 30
    assert progress["total"] == "300.00"
    page = operator.get(started.url)
    assert page.status_code == 200 and b"progress.json" in page.content and b"export.csv" in page.content


@URLS
@pytest.mark.django_db
def test_the_form_refuses_a_batch_the_budget_cannot_cover(operator):
    campaign = two_way_campaign(budget="50.00")
    url = f"/admin/campaigns/campaign/{campaign.pk}/generate/"
    data = {"count": 6, "rule": campaign.earn_rules.get().pk, "tiers": "", "valid_days": "", "token": "t-1"}

    reply = operator.post(url, data)

    assert reply.status_code == 200 and b"cannot cover" in reply.content
    assert not PacketBatch.objects.exists()


@URLS
@pytest.mark.django_db
def test_csv_export_streams_every_code_of_the_batch(operator):
    campaign = two_way_campaign(budget="1000.00")
    batch = generate(campaign, 25)
    generate(campaign, 3)  # another batch: not in the export

    reply = operator.get(f"/admin/campaigns/campaign/batches/{batch.pk}/export.csv")

    assert reply.status_code == 200 and reply.streaming
    assert reply["Content-Type"].startswith("text/csv")
    lines = b"".join(reply.streaming_content).decode().splitlines()
    assert lines[0] == "code,amount,min_spend,expires_at,claim_link"
    rows = [line.split(",") for line in lines[1:]]
    expected = list(Packet.objects.filter(batch=batch).order_by("pk").values_list("code", flat=True))
    assert [r[0] for r in rows] == expected
    assert rows[0][1:3] == ["10.00", "50.00"]
    assert rows[0][4] == f"http://testserver/claim/{expected[0]}/"


@pytest.mark.django_db
def test_csv_lines_page_through_the_batch_without_repeats():
    campaign = two_way_campaign(budget="1000.00")
    batch = generate(campaign, 23)
    lines = list(batches.batch_csv_lines(batch, page=5))
    assert len(lines) == 24
    assert len({line.split(",")[0] for line in lines[1:]}) == 23


@URLS
@pytest.mark.django_db
def test_another_merchants_manager_sees_none_of_it(manager_of_other_merchant):
    campaign = two_way_campaign(budget="1000.00")
    batch = generate(campaign, 2)
    for url in (
        f"/admin/campaigns/campaign/{campaign.pk}/generate/",
        f"/admin/campaigns/campaign/{campaign.pk}/poster/?channel=x",
        f"/admin/campaigns/campaign/batches/{batch.pk}/",
        f"/admin/campaigns/campaign/batches/{batch.pk}/progress.json",
        f"/admin/campaigns/campaign/batches/{batch.pk}/export.csv",
    ):
        assert manager_of_other_merchant.get(url).status_code == 404, url


@URLS
@pytest.mark.django_db
def test_poster_carries_the_qr_of_the_claim_link_with_the_channel(operator):
    campaign = two_way_campaign(budget="0", packet_amount=Decimal("8.00"), tiers="5.00:1,20.00:1")
    Campaign.objects.filter(pk=campaign.pk).update(name="春节红包", description="满50可用")
    url = f"/admin/campaigns/campaign/{campaign.pk}/poster/"

    page = operator.get(url, {"channel": "mall-3f"})

    html = page.content.decode()
    link = f"http://testserver/claim/campaign/{campaign.pk}/?ch=mall-3f"
    assert page.status_code == 200
    assert posters.qr_svg(link) in html  # the QR encodes exactly this link
    assert posters.qr_svg(link.replace("mall-3f", "mall-4f")) not in html
    assert 'data-channel="mall-3f"' in html and link in html
    assert "春节红包" in html and "满50可用" in html and "20.00" in html

    png = operator.get(url, {"channel": "mall-3f", "format": "png"})
    svg = operator.get(url, {"channel": "mall-3f", "format": "svg"})
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert svg["Content-Type"] == "image/svg+xml" and svg.content.decode() == posters.qr_svg(link)
    assert operator.get(url, {"channel": "bad channel!"}).status_code == 400
    assert operator.get(url).status_code == 400
