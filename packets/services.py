"""Orders, packet issuance, redemption and expiry. Every write of the packets app goes through here."""

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Merchant, User
from antifraud.assess import redemption_assess, redemption_assessment_record
from antifraud.devices import device_seen
from antifraud.errors import EarningLimitReached
from antifraud.limits import (
    EARN,
    NO_CONTEXT,
    REDEEM,
    EarnContext,
    earning_event_record,
    earning_limits_count,
    policy_for,
)
from campaigns import errors as campaign_errors
from campaigns.models import Campaign, EarnRule, RebateRule
from campaigns.programs import TOPIC_ORDER_PROGRAMS, order_needs_programs, programs_reverse_for_refund
from campaigns.rules import (
    CartLine,
    Event,
    Region,
    ShopperFacts,
    check_packet,
    draw_tier,
    evaluate_earn,
    rebate_legs,
)
from campaigns.selectors import (
    campaign_budget_account,
    campaign_outstanding_account,
    campaign_rebate_rows,
    campaign_reserve_account,
    campaign_spec,
    live_campaigns,
    live_campaigns_for_trigger,
    rebate_spec,
)
from campaigns.services import campaign_count_issuance, campaign_pause_budget_exhausted
from common.money import CNY, POINTS, ZERO
from rebates.errors import InsufficientFunds
from rebates.ledger import Posting, ledger_account, ledger_post, platform_account
from rebates.ledger.floats import float_for_debit, floats_collect
from rebates.lock_objects import ledger_accounts_lock
from rebates.models import AccountKind, LedgerAccount, OutboxEvent
from rebates.outbox import TOPIC_REDEMPTION_REBATES, outbox_publish_on_commit
from rebates.services import rebates_reverse_for_refund

from . import codes
from .errors import (
    RULE_NOT_MET_CODES,
    BudgetExhausted,
    InvalidOrder,
    OrderAlreadyRefunded,
    OrderNumberTaken,
    PacketNotFound,
    PacketRuleNotMet,
    PacketUnusable,
    PointsRefused,
    RefundTooLarge,
)
from .lock_objects import packet_lock_by_code
from .models import Order, OrderLine, Packet, PacketNotIssued, Redemption, Refund


@dataclass(frozen=True)
class LineInput:
    sku: str
    name: str
    category: str
    quantity: int
    unit_price: Decimal


def _validate_lines(lines: list[LineInput], gross_amount: Decimal) -> None:
    if not lines:
        raise InvalidOrder(_("An order needs at least one line."), code="order_no_lines")
    for i, line in enumerate(lines):
        if line.quantity <= 0:
            raise InvalidOrder(_("Quantities must be positive."), code="invalid_quantity", details={"line": i})
        if line.unit_price <= 0:
            raise InvalidOrder(_("Prices must be positive."), code="invalid_price", details={"line": i})
    total = sum((line.unit_price * line.quantity for line in lines), ZERO)
    if total != gross_amount:
        raise InvalidOrder(
            _("The gross amount %(gross_amount)s does not match the lines' total %(total)s.")
            % {"gross_amount": gross_amount, "total": total},
            code="gross_amount_mismatch",
            details={"lines_total": str(total)},
        )
    if gross_amount <= 0:
        raise InvalidOrder(_("The order amount must be positive."), code="invalid_amount")
    if gross_amount > settings.MAX_ORDER_AMOUNT:
        raise InvalidOrder(
            _("The order amount exceeds %(max)s.") % {"max": settings.MAX_ORDER_AMOUNT}, code="amount_too_large"
        )


def packet_verdict(packet: Packet, lines: list[CartLine], now: datetime, *, merchant_id: int):
    """The one way a stored packet is judged against a cart at a merchant — redemption and the checkout picker both
    call it."""
    return check_packet(
        campaign_merchant_id=packet.campaign.merchant_id,
        merchant_id=merchant_id,
        packet_status=packet.status,
        expires_at=packet.expires_at,
        amount=packet.amount,
        min_spend=packet.min_spend,
        categories=packet.categories,
        denied_categories=packet.denied_categories,
        campaign_live=packet.campaign.is_live(now),
        lines=lines,
        now=now,
    )


def _take_packet(
    *, code: str, shopper: User, merchant: Merchant, lines: list[LineInput], now: datetime
) -> tuple[Packet, Decimal]:
    """Lock the packet row and check it can pay for these lines; the lock makes a second spender wait, then fail."""
    canonical = codes.normalize(code)
    packet = packet_lock_by_code(canonical) if canonical else None
    if packet is None or packet.holder_id != shopper.pk:
        # Someone else's packet is reported exactly like a missing one: no existence leak.
        raise PacketNotFound(_("No such packet for this shopper."))
    cart = [CartLine(line.category, line.quantity, line.unit_price) for line in lines]
    verdict = packet_verdict(packet, cart, now, merchant_id=merchant.pk)
    if not verdict.ok:
        error = PacketRuleNotMet if verdict.code in RULE_NOT_MET_CODES else PacketUnusable
        raise error(verdict.reason, code=verdict.code)
    return packet, verdict.discount


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
    trail_keys: tuple[str, ...] = (),
    province: str = "",
    city: str = "",
    points: int = 0,
    now: datetime | None = None,
) -> Order:
    """Record an order; spend its packet (if any) and reserve that packet's rebates; issue any packet it earns.

    Either all of it commits — with an outbox row that makes the rebate worker run — or nothing does."""
    now = now or timezone.now()
    _validate_lines(lines, gross_amount)
    if Order.objects.filter(merchant=merchant, order_no=order_no).exists():
        raise OrderNumberTaken(_("Order %(order_no)s already exists.") % {"order_no": order_no})

    packet, discount = (None, ZERO)
    if packet_code:
        packet, discount = _take_packet(code=packet_code, shopper=shopper, merchant=merchant, lines=lines, now=now)
    points_discount = _points_value(points, payable=gross_amount - discount)
    device = device_seen(fingerprint=device_fingerprint, user=shopper, now=now) if device_fingerprint else None
    context = EarnContext(ip=ip, device=device, trail_keys=trail_keys)

    order = Order.objects.create(
        merchant=merchant,
        shopper=shopper,
        order_no=order_no,
        gross_amount=gross_amount,
        packet=packet,
        discount=discount,
        points_used=points,
        points_discount=points_discount,
        amount_paid=gross_amount - discount - points_discount,
        channel=channel,
        province=province,
        city=city,
        ip=ip,
        device=device,
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

    cart = tuple(CartLine(line.category, line.quantity, line.unit_price) for line in lines)
    event = Event(
        trigger=EarnRule.Trigger.PURCHASE,
        at=now,
        shopper=shopper_facts(shopper, exclude_order_id=order.pk),
        lines=cart,
        region=Region(province, city),
        draw=_draw(),
    )
    earned = _earned(live_campaigns(merchant_id=merchant.pk, at=now), event)

    # Lock, once and in primary-key order, the budgets this order may debit under a check: no deadlock between orders
    # that redeem in one campaign and earn in another. A redemption that only spends its packet locks none of its
    # campaign's accounts: outstanding and reserve are pass-through, the deposit takes credits without a lock, and
    # the rebates come out of a budget float claimed without waiting (`_redeem`, rebates/ledger/floats.py).
    campaigns = {campaign.pk: campaign for campaign, _, _ in earned}
    accounts = {}
    for campaign in campaigns.values():
        accounts[("budget", campaign.pk)] = campaign_budget_account(campaign)
        accounts[("outstanding", campaign.pk)] = campaign_outstanding_account(campaign)
    to_lock = [accounts[("budget", pk)].pk for pk in campaigns]
    if packet:
        campaign = packet.campaign
        rule = campaign.rebate_rule
        pool_funded = RebateRule.Funding.PLATFORM_POOL in (rule.issuer_funding, rule.holder_funding)
        accounts[("budget", campaign.pk)] = campaign_budget_account(campaign)
        accounts[("outstanding", campaign.pk)] = campaign_outstanding_account(campaign)
        accounts[("reserve", campaign.pk)] = campaign_reserve_account(campaign)
        accounts["deposit"] = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=merchant.pk)
        if pool_funded:
            # The platform pool is one row for the whole platform, debited under its lock: taken with the budget, in
            # the same sorted statement, only by redemptions it funds (a named limit: docs/ARCHITECTURE.md).
            accounts["pool"] = platform_account(AccountKind.PLATFORM_MARKETING_POOL)
        if earned or pool_funded:
            to_lock += [accounts[("budget", campaign.pk)].pk, *([accounts["pool"].pk] if pool_funded else [])]
    locked = ledger_accounts_lock(to_lock) if to_lock else {}
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
            order=order,
            items=items,
            cart=cart,
            packet=packet,
            discount=discount,
            accounts=accounts,
            available=available,
            context=context,
            now=now,
        )
    if points:
        _pay_with_points(order)
    if order_needs_programs(order):  # a referral or trial program may pay on this order: its worker decides
        outbox_publish_on_commit(OutboxEvent.objects.create(topic=TOPIC_ORDER_PROGRAMS, ref_id=order.pk))
    for campaign, rule, amount in earned:
        _issue_counted(
            campaign=campaign,
            rule=rule,
            amount=amount,
            holder=shopper,
            source_order=order,
            accounts=accounts,
            available=available,
            context=context,
            now=now,
        )
    return order


def _points_value(points: int, *, payable: Decimal) -> Decimal:
    """What `points` are worth at checkout, refusing fractions of a fen and more than is left to pay."""
    if points < 0:
        raise InvalidOrder(_("Points cannot be negative."), code="invalid_points")
    if not points:
        return ZERO
    value = Decimal(points) / settings.POINTS_PER_CNY
    if value != value.quantize(Decimal("0.01")):
        raise InvalidOrder(
            _("Points are spent in steps worth one fen (%(points)s points).")
            % {"points": settings.POINTS_PER_CNY // 100},
            code="invalid_points",
        )
    if value > payable:
        raise InvalidOrder(_("The points are worth more than is left to pay."), code="points_exceed_amount")
    return value.quantize(Decimal("0.01"))


def _pay_with_points(order: Order) -> None:
    """The shopper's points leave their account; the cash that backs them goes to the merchant, who gave the goods."""
    points = ledger_account(kind=AccountKind.SHOPPER_POINTS, currency=POINTS, user_id=order.shopper_id)
    postings = [
        Posting(points, -Decimal(order.points_used)),
        Posting(platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS), Decimal(order.points_used)),
        Posting(platform_account(AccountKind.POINTS_BACKING), -order.points_discount),
        Posting(
            ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=order.merchant_id), order.points_discount
        ),
    ]
    try:
        ledger_post(
            kind="points_payment",
            idempotency_key=f"order:{order.pk}:points",
            reference=f"order:{order.pk}",
            postings=postings,
        )
    except InsufficientFunds as exc:
        code = "insufficient_points" if exc.account_id == points.pk else "points_unavailable"
        raise PointsRefused(
            _("Not enough points.") if code == "insufficient_points" else _("Points cannot be used now."), code=code
        ) from exc


def _draw() -> float:
    """A uniform number in [0, 1) for weighted tiers, from the OS's CSPRNG: a shopper cannot steer the draw."""
    return secrets.randbelow(1_000_000) / 1_000_000


def shopper_facts(shopper: User, *, exclude_order_id: int | None = None) -> ShopperFacts:
    prior = Order.objects.filter(shopper=shopper)
    if exclude_order_id:
        prior = prior.exclude(pk=exclude_order_id)
    return ShopperFacts(
        user_id=shopper.pk,
        prior_orders=1 if prior.exists() else 0,
        segments=frozenset(shopper.segments),
        region=Region(shopper.province, shopper.city),
    )


def _earned(campaigns: list[Campaign], event: Event) -> list[tuple[Campaign, EarnRule, Decimal]]:
    """(campaign, rule, packet amount) for every earn rule the event fires, in campaign then rule order."""
    earned = []
    for campaign in campaigns:
        rules = {rule.pk: rule for rule in campaign.earn_rules.all()}
        for decision in evaluate_earn(campaign_spec(campaign, with_rebate=False), event):
            if decision.fires:
                earned.append((campaign, rules[decision.earn_rule_id], decision.amount))
    return earned


def _issue_counted(
    *,
    campaign: Campaign,
    rule: EarnRule,
    amount: Decimal,
    holder: User,
    source_order,
    accounts,
    available,
    now,
    context: EarnContext = NO_CONTEXT,
    issuer_user: User | None = None,
    channel: str = "order",
) -> Packet | None:
    """Issue one packet if the budget and every limit allow it (the campaign's, and the anti-fraud limits per IP,
    device and account); otherwise issue nothing — and, for an order, note on it what was not issued and why."""
    budget = accounts[("budget", campaign.pk)]
    if not _budget_covers(budget, amount, available):
        campaign_pause_budget_exhausted(campaign_id=campaign.pk)
        return _not_issued(order=source_order, rule=rule, amount=amount, code=BudgetExhausted.code)
    with transaction.atomic():  # a savepoint: counters taken before a refusing limit are rolled back with it
        refused = campaign_count_issuance(
            campaign=campaign, user_id=holder.pk, amount=amount, day=timezone.localdate(now)
        )
        if not refused:
            try:
                earning_limits_count(campaign_id=campaign.pk, user_id=holder.pk, context=context, path=EARN, now=now)
            except EarningLimitReached as exc:
                refused = exc.code
        if refused:
            transaction.set_rollback(True)
    if refused:  # noted after the savepoint's rollback, so the note survives the counters it undid
        return _not_issued(order=source_order, rule=rule, amount=amount, code=refused)
    available[budget.pk] -= amount
    packet = _issue_packet(
        rule=rule,
        amount=amount,
        holder=holder,
        source_order=source_order,
        budget=budget,
        outstanding=accounts[("outstanding", campaign.pk)],
        now=now,
        issuer_user=issuer_user,
        channel=channel,
    )
    earning_event_record(kind="issue", packet=packet, user=holder, context=context, at=now)
    return packet


def _not_issued(*, order: Order | None, rule: EarnRule, amount: Decimal, code: str) -> None:
    if order is not None:
        # A re-issue refused again keeps its one row (one outcome per order and rule), with the latest reason.
        PacketNotIssued.objects.update_or_create(
            order=order, earn_rule=rule, defaults={"campaign_id": rule.campaign_id, "amount": amount, "code": code}
        )


@transaction.atomic
def packets_issue_for_event(
    *,
    trigger: str,
    shopper: User,
    issuer_user: User | None = None,
    context: EarnContext = NO_CONTEXT,
    now: datetime | None = None,
) -> list[Packet]:
    """Issue what a non-purchase event earns across running campaigns: registration (newbie packets), daily
    check-in, a share that brought a friend, a referral (the inviter is the packet's issuer and earns its issuer
    leg). Scopes and limits apply exactly as for purchases."""
    now = now or timezone.now()
    event = Event(trigger=trigger, at=now, shopper=shopper_facts(shopper), draw=_draw())
    earned = _earned(live_campaigns_for_trigger(trigger=trigger, at=now), event)
    accounts = {}
    for campaign, _rule, _amount in earned:
        accounts[("budget", campaign.pk)] = campaign_budget_account(campaign)
        accounts[("outstanding", campaign.pk)] = campaign_outstanding_account(campaign)
    available = {pk: a.balance for pk, a in ledger_accounts_lock(a.pk for a in accounts.values()).items()}
    issued = []
    for campaign, rule, amount in earned:
        packet = _issue_counted(
            campaign=campaign,
            rule=rule,
            amount=amount,
            holder=shopper,
            source_order=None,
            accounts=accounts,
            available=available,
            now=now,
            context=context,
            issuer_user=issuer_user,
            channel=trigger,
        )
        if packet:
            issued.append(packet)
    return issued


def _redeem(
    *,
    order: Order,
    items: list[dict],
    cart: tuple[CartLine, ...],
    packet: Packet,
    discount: Decimal,
    accounts: dict,
    available: dict,
    context: EarnContext,
    now: datetime,
):
    campaign = packet.campaign
    # Anti-fraud first: the limits on spending, then the risk verdict (a block refuses the whole order).
    policy = policy_for(campaign.pk)
    earning_limits_count(
        campaign_id=campaign.pk, user_id=order.shopper_id, context=context, path=REDEEM, now=now, policy=policy
    )
    verdict = redemption_assess(order=order, packet=packet, context=context, policy=policy, now=now)
    snapshot = rebate_spec(campaign_rebate_rows(campaign)).to_snapshot(
        issuer_merchant_id=packet.issuer_merchant_id, issuer_user_id=packet.issuer_user_id
    )
    snapshot["hold_days"] = campaign.hold_days  # the holding period promised when the packet was spent
    rule = campaign.rebate_rule
    snapshot["coupon"] = {"min_spend": str(rule.coupon_min_spend), "valid_days": rule.coupon_valid_days}
    legs = rebate_legs(snapshot, lines=cart, discount=discount + order.points_discount, at=now)
    budget, outstanding = accounts[("budget", campaign.pk)], accounts[("outstanding", campaign.pk)]
    reserve, pool = accounts[("reserve", campaign.pk)], accounts.get("pool")
    postings = [
        Posting(outstanding, -packet.amount),
        Posting(accounts["deposit"], discount),  # the merchant that accepted the packet is made whole
    ]
    if packet.amount > discount:  # the packet was worth more than it covered: the rest returns to its funder
        postings.append(Posting(_funder(packet, budget), packet.amount - discount))
    from_budget = sum((leg.amount for leg in legs if leg.funding == "campaign_budget"), ZERO)
    if from_budget and budget.pk not in available:
        # Not locked above: the budget's share comes out of a float this redemption alone holds.
        try:
            budget = float_for_debit(account=budget, need=from_budget, spread=packet.pk)
        except InsufficientFunds as exc:
            raise BudgetExhausted(_("The campaign's budget cannot cover this packet's rebates right now.")) from exc
    for leg in legs:
        source = budget if leg.funding == "campaign_budget" else pool
        postings += [Posting(source, -leg.amount), Posting(reserve, leg.amount)]
    net = {}
    for p in postings:
        net[p.account.pk] = net.get(p.account.pk, ZERO) + p.amount
    for account_pk, change in net.items():
        if account_pk not in available:
            continue  # a float (checked under its lock by the ledger) or an account that takes no check
        if account_pk == budget.pk:
            _budget_covers(budget, -change, available)
        if change < 0 and available[account_pk] + change < 0:
            raise BudgetExhausted(_("The campaign's budget cannot cover this packet's rebates right now."))
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
    redemption_assessment_record(redemption=redemption, verdict=verdict, policy=policy)
    earning_event_record(kind="redeem", packet=packet, user=order.shopper, context=context, at=now)
    ledger_post(
        kind="redemption",
        idempotency_key=f"redemption:{redemption.pk}",
        reference=f"redemption:{redemption.pk}",
        postings=postings,
    )
    event = OutboxEvent.objects.create(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
    outbox_publish_on_commit(event)
    return redemption


def _budget_covers(budget: LedgerAccount, amount: Decimal, available: dict) -> bool:
    """Whether the locked budget covers `amount`, counting its floats: when its own money is short they are brought
    back first, so a refusal (and the auto-pause after it) is never caused by money parked in a float."""
    if available[budget.pk] < amount:
        available[budget.pk] = floats_collect(budget)
    return available[budget.pk] >= amount


def _funder(packet: Packet, budget=None):
    if packet.funding_account_id:
        return LedgerAccount(pk=packet.funding_account_id, currency=CNY)
    return budget or campaign_budget_account(Campaign(pk=packet.campaign_id))


def _issue_packet(
    *,
    rule: EarnRule,
    amount: Decimal,
    holder: User | None,
    source_order: Order | None,
    budget,
    outstanding,
    now,
    issuer_user: User | None = None,
    channel: str = "order",
) -> Packet:
    packet = Packet.objects.create(
        code=codes.new_code(),
        campaign=rule.campaign,
        earn_rule=rule,
        issuer_merchant_id=rule.campaign.merchant_id,
        issuer_user=issuer_user,
        holder=holder,
        amount=amount,
        min_spend=rule.min_spend,
        categories=rule.allowed_categories,
        denied_categories=rule.denied_categories,
        issued_at=now,
        expires_at=now + timedelta(days=rule.valid_days),
        source_order=source_order,
        channel=channel,
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
    campaign = rule.campaign
    accounts = {
        ("budget", campaign.pk): campaign_budget_account(campaign),
        ("outstanding", campaign.pk): campaign_outstanding_account(campaign),
    }
    available = {pk: a.balance for pk, a in ledger_accounts_lock(a.pk for a in accounts.values()).items()}
    tiers = rule.parsed_tiers()
    amount = draw_tier(tiers, _draw()).amount if tiers else rule.packet_amount
    if not _budget_covers(accounts[("budget", campaign.pk)], amount, available):
        raise BudgetExhausted(str(campaign_errors.BUDGET_EXHAUSTED))
    with transaction.atomic():
        refused = campaign_count_issuance(
            campaign=campaign, user_id=holder.pk, amount=amount, day=timezone.localdate(now)
        )
        if refused:
            raise PacketUnusable(
                _("The campaign's limit is reached (%(refused)s).") % {"refused": refused}, code=refused
            )
        return _issue_packet(
            rule=rule,
            amount=amount,
            holder=holder,
            source_order=None,
            budget=accounts[("budget", campaign.pk)],
            outstanding=accounts[("outstanding", campaign.pk)],
            now=now,
        )


def packets_expire_due(*, now: datetime | None = None, chunk: int = 2000) -> int:
    """Expire packets past their date; their value returns to whoever funded them. Safe to run twice."""
    now = now or timezone.now()
    return _expire_where(Q(status=Packet.Status.ISSUED, expires_at__lte=now), chunk=chunk)


def packets_expire_for_campaign(*, campaign_id: int, chunk: int = 2000) -> int:
    """An ended campaign's packets can no longer be spent: expire them all now and return their value."""
    return _expire_where(Q(status=Packet.Status.ISSUED, campaign_id=campaign_id), chunk=chunk)


def _expire_where(condition: Q, *, chunk: int) -> int:
    """Expire in chunks: each chunk is one transaction with ONE ledger transaction (outstanding → funders)."""
    expired = 0
    while True:
        with transaction.atomic():
            due = list(
                Packet.objects.filter(condition)
                .order_by("pk")
                .select_for_update(skip_locked=True)
                .values_list("pk", "campaign_id", "funding_account_id", "amount")[:chunk]
            )
            if not due:
                return expired
            Packet.objects.filter(pk__in=[pk for pk, *_ in due]).update(status=Packet.Status.EXPIRED)
            returned: dict[tuple[int, int | None], Decimal] = {}
            for _pk, campaign_id, funder_id, amount in due:
                returned[(campaign_id, funder_id)] = returned.get((campaign_id, funder_id), ZERO) + amount
            postings = []
            for (campaign_id, funder_id), amount in returned.items():
                campaign = Campaign(pk=campaign_id)
                funder = LedgerAccount(pk=funder_id, currency=CNY) if funder_id else campaign_budget_account(campaign)
                postings += [Posting(campaign_outstanding_account(campaign), -amount), Posting(funder, amount)]
            first, last = due[0][0], due[-1][0]
            ledger_post(
                kind="packet_expire",
                idempotency_key=f"packets-expire:{first}-{last}:{len(due)}",
                reference=f"packets:{first}-{last}",
                postings=postings,
            )
            expired += len(due)


@transaction.atomic
def order_refund(*, order: Order, amount: Decimal, reason: str = "", now: datetime | None = None) -> Refund:
    """Refund (part of) an order: the refunded share of its rebates is reversed; a full refund gives the packet back
    as a new packet when the campaign's policy says so. The order row lock serialises refunds of one order."""
    if amount <= 0 or amount != amount.quantize(Decimal("0.01")):
        raise InvalidOrder(_("A refund amount is positive, in fen."), code="invalid_amount")
    now = now or timezone.now()
    order = Order.objects.select_for_update(of=("self",)).select_related("packet__campaign").get(pk=order.pk)
    refunded_before = sum((r.amount for r in order.refunds.all()), ZERO)
    if refunded_before >= order.gross_amount:
        raise OrderAlreadyRefunded(_("This order is already fully refunded."))
    if refunded_before + amount > order.gross_amount:
        raise RefundTooLarge(
            _("Refunds would total %(total)s, more than the order's %(gross_amount)s.")
            % {"total": refunded_before + amount, "gross_amount": order.gross_amount},
            details={"refundable": str(order.gross_amount - refunded_before)},
        )
    refund = Refund.objects.create(order=order, amount=amount, reason=reason)
    refunded_now = refunded_before + amount
    rebates_reverse_for_refund(
        order=order, refunded_before=refunded_before, refunded_now=refunded_now, refund_id=refund.pk
    )
    programs_reverse_for_refund(order=order, refunded_now=refunded_now, refund_id=refund.pk)  # referral, trial
    if refunded_now == order.gross_amount and order.packet_id:
        _reissue_refunded_packet(order, now=now)
    return refund


def _reissue_refunded_packet(order: Order, *, now: datetime) -> Packet | None:
    """The packet comes back as a new code with the same terms and expiry, when the campaign's policy says so and
    it has not expired: the merchant returns the discount it was paid, the funder the unused part."""
    packet = order.packet
    campaign = packet.campaign
    if campaign.refund_packet_policy != Campaign.RefundPolicy.REISSUE or packet.expires_at <= now:
        return None
    deposit = ledger_account(kind=AccountKind.MERCHANT_DEPOSIT, merchant_id=order.merchant_id)
    outstanding = campaign_outstanding_account(campaign)
    funder = _funder(packet)
    # The outstanding packets are pass-through (credited here): only the two debits are checked under a lock.
    balances = {pk: a.balance for pk, a in ledger_accounts_lock([deposit.pk, funder.pk]).items()}
    unused = packet.amount - order.discount
    if balances[deposit.pk] < order.discount or (unused and balances[funder.pk] < unused):
        return None  # the money to restore it is no longer there: the packet stays spent
    again = Packet.objects.create(
        code=codes.new_code(),
        campaign=campaign,
        earn_rule_id=packet.earn_rule_id,
        issuer_merchant_id=packet.issuer_merchant_id,
        issuer_user_id=packet.issuer_user_id,
        holder_id=packet.holder_id,
        amount=packet.amount,
        min_spend=packet.min_spend,
        categories=packet.categories,
        denied_categories=packet.denied_categories,
        issued_at=now,
        expires_at=packet.expires_at,
        funding_account_id=packet.funding_account_id,
        channel="refund",
    )
    postings = [Posting(outstanding, packet.amount), Posting(deposit, -order.discount)]
    if unused:
        postings.append(Posting(funder, -unused))
    ledger_post(
        kind="packet_reissue",
        idempotency_key=f"order:{order.pk}:reissue",
        reference=f"packet:{again.pk}",
        postings=postings,
    )
    return again


# --- failed issuance, re-issued -------------------------------------------------------------------------------------

# Refusals that may pass later by themselves: the budget is refilled, a new day starts under the daily cap. The
# others are limits meant to hold (the campaign's packet limits, the anti-fraud limits): re-issuing them would
# undo the limit.
REISSUE_RETRYABLE_CODES = (BudgetExhausted.code, "daily_budget_cap_reached")


@transaction.atomic
def packet_reissue_not_issued(*, not_issued_id: int, now: datetime | None = None) -> Packet | None:
    """Issue again a packet an order earned but did not get, to the order's shopper, exactly as the order would have
    (budget, campaign limits and the anti-fraud limits of the order's IP and device all apply). Returns the packet,
    or None when it is refused again (the row then holds the new reason). Idempotent: the row is locked, and a row
    already re-issued returns its packet."""
    now = now or timezone.now()
    row = (
        PacketNotIssued.objects.select_for_update(of=("self",))
        .select_related("order__shopper", "order__device", "earn_rule__campaign")
        .get(pk=not_issued_id)
    )
    if row.reissued_packet_id:
        return row.reissued_packet
    if row.code not in REISSUE_RETRYABLE_CODES:
        raise PacketUnusable(
            _("A packet refused for %(code)s is not re-issued: that limit is meant to hold.") % {"code": row.code},
            code="not_retryable",
        )
    rule, order = row.earn_rule, row.order
    campaign = rule.campaign
    if not campaign.is_live(now):
        raise PacketUnusable(str(campaign_errors.CAMPAIGN_NOT_LIVE), code="campaign_not_active")
    accounts = {
        ("budget", campaign.pk): campaign_budget_account(campaign),
        ("outstanding", campaign.pk): campaign_outstanding_account(campaign),
    }
    available = {pk: a.balance for pk, a in ledger_accounts_lock(a.pk for a in accounts.values()).items()}
    packet = _issue_counted(
        campaign=campaign,
        rule=rule,
        amount=row.amount,
        holder=order.shopper,
        source_order=order,
        accounts=accounts,
        available=available,
        now=now,
        context=EarnContext(ip=order.ip, device=order.device),
    )
    if packet is not None:
        PacketNotIssued.objects.filter(pk=row.pk).update(reissued_packet=packet, reissued_at=now)
    return packet


def packets_reissue_retryable(*, limit: int = 200, now: datetime | None = None) -> int:
    """The sweeper: re-issue the retryable refusals of running campaigns, oldest first, each in its own
    transaction; returns how many packets were issued."""
    now = now or timezone.now()
    pending = (
        PacketNotIssued.objects.filter(
            reissued_packet__isnull=True,
            code__in=REISSUE_RETRYABLE_CODES,
            campaign__status=Campaign.Status.ACTIVE,
            campaign__starts_at__lte=now,
            campaign__ends_at__gt=now,
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(packet_reissue_not_issued(not_issued_id=pk, now=now) is not None for pk in list(pending))
