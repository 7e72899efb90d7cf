"""Orders, packet issuance, redemption and expiry. Every write of the packets app goes through here."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import Device, Merchant, User
from campaigns import errors as campaign_errors
from campaigns.models import Campaign, EarnRule
from campaigns.rules import CartLine, check_packet, earn_decisions, rebate_legs, rebate_snapshot
from campaigns.selectors import (
    campaign_budget_account,
    campaign_outstanding_account,
    campaign_reserve_account,
    live_earn_rules,
)
from campaigns.services import campaign_note_budget_exhausted
from common.money import ZERO
from rebates.ledger import Posting, ledger_account, ledger_post, platform_account
from rebates.lock_objects import ledger_accounts_lock
from rebates.models import AccountKind, OutboxEvent
from rebates.outbox import TOPIC_REDEMPTION_REBATES, outbox_publish_on_commit

from . import codes
from .errors import (
    RULE_NOT_MET_CODES,
    BudgetExhausted,
    InvalidOrder,
    OrderNumberTaken,
    PacketNotFound,
    PacketRuleNotMet,
    PacketUnusable,
)
from .lock_objects import packet_lock_by_code
from .models import Order, OrderLine, Packet, Redemption


@dataclass(frozen=True)
class LineInput:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal


def _validate_lines(lines: list[LineInput], gross_amount: Decimal) -> None:
    if not lines:
        raise InvalidOrder("An order needs at least one line.", code="order_no_lines")
    for i, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidOrder("Quantities must be positive.", code="invalid_quantity", details={"line": i})
        if line.unit_price < 0:
            raise InvalidOrder("Prices cannot be negative.", code="invalid_price", details={"line": i})
    total = sum((line.unit_price * line.quantity for line in lines), ZERO)
    if total != gross_amount:
        raise InvalidOrder(
            f"The gross amount {gross_amount} does not match the lines' total {total}.",
            code="gross_amount_mismatch",
            details={"lines_total": str(total)},
        )
    if gross_amount <= 0:
        raise InvalidOrder("The order amount must be positive.", code="invalid_amount")
    if gross_amount > settings.MAX_ORDER_AMOUNT:
        raise InvalidOrder(f"The order amount exceeds {settings.MAX_ORDER_AMOUNT}.", code="amount_too_large")


def _take_packet(*, code: str, shopper: User, lines: list[LineInput], now: datetime) -> tuple[Packet, Decimal]:
    """Lock the packet row and check it can pay for these lines; the lock makes a second spender wait, then fail."""
    canonical = codes.normalize(code)
    packet = packet_lock_by_code(canonical) if canonical else None
    if packet is None or packet.holder_id != shopper.pk:
        # Someone else's packet is reported exactly like a missing one: no existence leak.
        raise PacketNotFound("No such packet for this shopper.")
    verdict = check_packet(
        packet_status=packet.status,
        expires_at=packet.expires_at,
        amount=packet.amount,
        min_spend=packet.min_spend,
        categories=packet.categories,
        campaign_live=packet.campaign.is_live(now),
        lines=[CartLine(line.category, line.quantity, line.unit_price) for line in lines],
        now=now,
    )
    if not verdict.ok:
        error = PacketRuleNotMet if verdict.code in RULE_NOT_MET_CODES else PacketUnusable
        raise error(verdict.reason, code=verdict.code)
    return packet, verdict.discount


def _device(fingerprint: str | None, shopper: User) -> Device | None:
    if not fingerprint:
        return None
    device, created = Device.objects.get_or_create(fingerprint=fingerprint, defaults={"owner": shopper})
    if not created:
        Device.objects.filter(pk=device.pk).update(last_seen=timezone.now())
    return device


@transaction.atomic
def order_create(
    *,
    merchant: Merchant,
    shopper: User,
    order_no: str,
    lines: list[LineInput],
    gross_amount: Decimal,
    packet_code: str | None = None,
    channel: str = Order.Channel.API,
    ip: str | None = None,
    device_fingerprint: str | None = None,
    now: datetime | None = None,
) -> Order:
    """Record an order; spend its packet (if any) and reserve that packet's rebates; issue any packet it earns.

    Either all of it commits — with an outbox row that makes the rebate worker run — or nothing does."""
    now = now or timezone.now()
    _validate_lines(lines, gross_amount)
    if Order.objects.filter(merchant=merchant, order_no=order_no).exists():
        raise OrderNumberTaken(f"Order {order_no} already exists.")

    packet, discount = (None, ZERO)
    if packet_code:
        packet, discount = _take_packet(code=packet_code, shopper=shopper, lines=lines, now=now)

    order = Order.objects.create(
        merchant=merchant,
        shopper=shopper,
        order_no=order_no,
        gross_amount=gross_amount,
        packet=packet,
        discount=discount,
        amount_paid=gross_amount - discount,
        channel=channel,
        ip=ip,
        device=_device(device_fingerprint, shopper),
    )
    OrderLine.objects.bulk_create(
        [
            OrderLine(
                order=order,
                sku=line.sku,
                name=line.name,
                category=line.category,
                quantity=line.quantity,
                unit_price=line.unit_price,
            )
            for line in lines
        ]
    )

    rules = live_earn_rules(merchant_id=merchant.pk, at=now)
    decisions = earn_decisions(
        [{"id": r.pk, "threshold_amount": r.threshold_amount, "packet_amount": r.packet_amount} for r in rules],
        gross=gross_amount,
    )
    earn_rules = [rule for rule, decision in zip(rules, decisions, strict=True) if decision.fires]
    # Lock every account this order will touch, once, in primary-key order: no deadlock between orders that
    # redeem in one campaign and earn in another. Hot rows are locked last, for the shortest time.
    campaigns = {rule.campaign_id: rule.campaign for rule in earn_rules}
    if packet:
        campaigns[packet.campaign_id] = packet.campaign
    accounts = {}
    for campaign in campaigns.values():
        accounts[("budget", campaign.pk)] = campaign_budget_account(campaign)
        accounts[("outstanding", campaign.pk)] = campaign_outstanding_account(campaign)
    if packet:
        accounts[("reserve", packet.campaign_id)] = campaign_reserve_account(packet.campaign)
        accounts["deposit"] = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=merchant.pk)
        accounts["pool"] = platform_account(AccountKind.PLATFORM_MARKETING_POOL)
    locked = ledger_accounts_lock(a.pk for a in accounts.values())
    available = {pk: account.balance for pk, account in locked.items()}

    if packet:
        items = [
            {
                "sku": li.sku,
                "name": li.name,
                "category": li.category,
                "quantity": li.quantity,
                "unit_price": str(li.unit_price),
            }
            for li in lines
        ]
        _redeem(
            order=order, items=items, packet=packet, discount=discount, accounts=accounts, available=available, now=now
        )
    for rule in earn_rules:
        budget = accounts[("budget", rule.campaign_id)]
        if available[budget.pk] < rule.packet_amount:
            campaign_note_budget_exhausted(campaign_id=rule.campaign_id, reason=str(campaign_errors.BUDGET_EXHAUSTED))
            continue
        available[budget.pk] -= rule.packet_amount
        _issue_packet(
            rule=rule,
            holder=shopper,
            source_order=order,
            budget=budget,
            outstanding=accounts[("outstanding", rule.campaign_id)],
            now=now,
        )
    return order


def _redeem(
    *,
    order: Order,
    items: list[dict],
    packet: Packet,
    discount: Decimal,
    accounts: dict,
    available: dict,
    now: datetime,
):
    campaign = packet.campaign
    snapshot = rebate_snapshot(campaign.rebate_rule, issuer_merchant_id=packet.issuer_merchant_id)
    legs = rebate_legs(snapshot, gross=order.gross_amount, paid=order.amount_paid)
    budget, outstanding = accounts[("budget", campaign.pk)], accounts[("outstanding", campaign.pk)]
    reserve, pool = accounts[("reserve", campaign.pk)], accounts["pool"]
    postings = [
        Posting(outstanding, -packet.amount),
        Posting(accounts["deposit"], discount),  # the merchant that accepted the packet is made whole
    ]
    if packet.amount > discount:  # the packet was worth more than it covered: the rest returns to the budget
        postings.append(Posting(budget, packet.amount - discount))
    for leg in legs:
        source = budget if leg.funding == "campaign_budget" else pool
        postings += [Posting(source, -leg.amount), Posting(reserve, leg.amount)]
    net = {}
    for p in postings:
        net[p.account.pk] = net.get(p.account.pk, ZERO) + p.amount
    for account_pk, change in net.items():
        if change < 0 and available[account_pk] + change < 0:
            raise BudgetExhausted("The campaign's budget cannot cover this packet's rebates right now.")
        available[account_pk] += change

    packet.status = Packet.Status.USED
    packet.used_at = now
    packet.save(update_fields=["status", "used_at"])
    redemption = Redemption.objects.create(
        packet=packet,
        order=order,
        order_no=order.order_no,
        order_amount=order.gross_amount,
        items=items,
        used_at=now,
        rule_snapshot=snapshot,
    )
    ledger_post(
        kind="redemption",
        idempotency_key=f"redemption:{redemption.pk}",
        reference=f"redemption:{redemption.pk}",
        postings=postings,
    )
    event = OutboxEvent.objects.create(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
    outbox_publish_on_commit(event)
    return redemption


def _issue_packet(*, rule: EarnRule, holder: User, source_order: Order | None, budget, outstanding, now) -> Packet:
    packet = Packet.objects.create(
        code=codes.new_code(),
        campaign=rule.campaign,
        earn_rule=rule,
        issuer_merchant_id=rule.campaign.merchant_id,
        holder=holder,
        amount=rule.packet_amount,
        min_spend=rule.min_spend,
        categories=rule.allowed_categories,
        issued_at=now,
        expires_at=now + timedelta(days=rule.valid_days),
        source_order=source_order,
    )
    ledger_post(
        kind="packet_issue",
        idempotency_key=f"packet:{packet.pk}:issue",
        reference=f"packet:{packet.pk}",
        postings=[Posting(budget, -packet.amount), Posting(outstanding, packet.amount)],
    )
    return packet


@transaction.atomic
def packet_grant(*, rule: EarnRule, holder: User, now: datetime | None = None) -> Packet:
    """Issue one packet outside an order (manual grant, demo data). Refused when the budget cannot cover it."""
    now = now or timezone.now()
    if not rule.campaign.is_live(now):
        raise PacketUnusable(str(campaign_errors.CAMPAIGN_NOT_LIVE), code="campaign_not_active")
    budget = campaign_budget_account(rule.campaign)
    outstanding = campaign_outstanding_account(rule.campaign)
    locked = ledger_accounts_lock([budget.pk, outstanding.pk])
    if locked[budget.pk].balance < rule.packet_amount:
        raise BudgetExhausted(str(campaign_errors.BUDGET_EXHAUSTED))
    return _issue_packet(rule=rule, holder=holder, source_order=None, budget=budget, outstanding=outstanding, now=now)


def packets_expire_due(*, now: datetime | None = None, batch: int = 500) -> int:
    """Expire packets past their date and return their value to the campaign budget. Safe to run twice."""
    now = now or timezone.now()
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                Packet.objects.filter(status=Packet.Status.ISSUED, expires_at__lte=now)
                .order_by("pk")
                .select_for_update(skip_locked=True)[:batch]
            )
            if not due:
                return expired
            for packet in due:
                _expire(packet)
            expired += len(due)


def _expire(packet: Packet) -> None:
    campaign = Campaign(pk=packet.campaign_id)
    Packet.objects.filter(pk=packet.pk).update(status=Packet.Status.EXPIRED)
    ledger_post(
        kind="packet_expire",
        idempotency_key=f"packet:{packet.pk}:expire",
        reference=f"packet:{packet.pk}",
        postings=[
            Posting(campaign_outstanding_account(campaign), -packet.amount),
            Posting(campaign_budget_account(campaign), packet.amount),
        ],
    )
