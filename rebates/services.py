"""The money side of a redemption: crediting both legs, holding them, confirming them, reversing them on refund.

A rebate moves in two phases (TigerBeetle's pending transfers are the model): with a holding period it is first
posted to the beneficiary's *pending* account — visible, not spendable — then, when the hold ends, posted on to the
available account; a refund before that voids the pending part back to its funder. Each step is one ledger
transaction with its own idempotency key, taken under the rebate's row lock, so each happens at most once.
A clawback larger than the available balance leaves a debt that is netted from the beneficiary's next rebates.
"""

import logging
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from antifraud.assess import (
    rebate_assessments_record,
    rebate_assessments_record_many,
    rebate_verdicts,
    rebate_verdicts_many,
)
from antifraud.scoring import ALLOW, BLOCK
from campaigns.models import Campaign
from campaigns.rules import CartLine, RebateLeg, rebate_legs
from campaigns.selectors import campaign_budget_account, campaign_outstanding_account, campaign_reserve_account
from common.events import publish
from common.money import CNY, POINTS, ZERO, refunded_share
from packets.models import Redemption, Refund

from .events import RebateBlocked
from .ledger import Posting, ledger_accounts_many, ledger_post, ledger_post_many, platform_account
from .ledger.postings import Pockets, beneficiary_pockets, ledger_balances_lock, postings_into_available
from .lock_objects import ledger_accounts_lock
from .models import AccountKind, LedgerAccount, OutboxEvent, Rebate
from .outbox import TOPIC_REDEMPTION_REBATES, outbox_mark_done
from .webhooks.services import webhooks_emit_rebate_reversed, webhooks_emit_rebates_credited

log = logging.getLogger(__name__)


def redemption_legs(redemption: Redemption) -> tuple[RebateLeg, ...]:
    """The legs a redemption pays, recomputed from what it recorded: its items, discount, time and rule snapshot."""
    lines = [CartLine(i["category"], i["quantity"], Decimal(i["unit_price"])) for i in redemption.items]
    order = redemption.order
    return rebate_legs(
        redemption.rule_snapshot, lines=lines, discount=order.discount + order.points_discount, at=redemption.used_at
    )


def _rebate_pockets(rebate: Rebate) -> Pockets:
    return beneficiary_pockets(
        role=rebate.role,
        form=rebate.form,
        currency=rebate.currency,
        user_id=rebate.beneficiary_user_id,
        merchant_id=rebate.beneficiary_merchant_id,
    )


def _funder(campaign_id: int, funding: str) -> LedgerAccount:
    if funding == "platform_pool":
        return platform_account(AccountKind.PLATFORM_MARKETING_POOL)
    return campaign_budget_account(Campaign(pk=campaign_id))


@transaction.atomic
def rebates_credit_for_redemption(*, redemption_id: int) -> list[Rebate]:
    """Compute both legs from the rule snapshot taken at redemption and credit them in ONE ledger transaction —
    into pending accounts when the campaign holds rebates, else straight to the available balance.

    Exactly once: the redemption row lock serialises concurrent runs; a run that finds rebates already there
    does nothing; the unique (redemption, role) constraint and the ledger key stand behind that."""
    if OutboxEvent.objects.filter(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption_id, done_at__isnull=False).exists():
        # Already credited (a duplicate delivery): answer without queueing for any lock.
        return list(Rebate.objects.filter(redemption_id=redemption_id))
    # The outbox row first, then the redemption's: the order the batch credit takes them in (no deadlock).
    list(OutboxEvent.objects.select_for_update().filter(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption_id))
    # The order's row too: a refund takes it first, so it either sees these rebates or they see its refund.
    redemption = (
        Redemption.objects.select_for_update(of=("self", "order"))
        .select_related("order", "packet")
        .get(pk=redemption_id)
    )
    existing = list(redemption.rebates.all())
    if existing:
        outbox_mark_done(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
        return existing

    packet, order = redemption.packet, redemption.order
    legs = redemption_legs(redemption)
    hold_days = int(redemption.rule_snapshot.get("hold_days", 0))
    hold_until = redemption.used_at + timedelta(days=hold_days) if hold_days else None
    rebates: list[Rebate] = []
    if legs:
        issuer_user = packet.issuer_user_id
        planned = []
        for leg in legs:
            user_id = packet.holder_id if leg.role == "holder" else issuer_user
            merchant_id = packet.issuer_merchant_id if leg.role == "issuer" and not issuer_user else None
            pockets = beneficiary_pockets(
                role=leg.role, form=leg.form, currency=leg.currency, user_id=user_id, merchant_id=merchant_id
            )
            planned.append((leg, user_id, merchant_id, pockets))
        # The anti-fraud verdict per beneficiary: a held rebate waits in the pending account, not payable, until an
        # operator releases or rejects it (antifraud.services); a coupon that is held is not issued yet.
        verdicts = rebate_verdicts(redemption=redemption, beneficiaries=[(u, m) for _, u, m, _ in planned])
        held = [verdict.decision != ALLOW for verdict in verdicts]
        reserve = campaign_reserve_account(Campaign(pk=packet.campaign_id))
        # The reserve and the outstanding packets are pass-through: not locked (rebates/models.py, PostingMode).
        involved = [a for *_, p in planned for a in (p.available, p.pending, p.debt)]
        if any(leg.currency == POINTS for leg in legs):
            involved += [
                platform_account(AccountKind.POINTS_BACKING),
                platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS),
            ]
        balances = ledger_balances_lock(involved)
        postings = [Posting(reserve, -sum(leg.amount for leg in legs))]
        outstanding = campaign_outstanding_account(Campaign(pk=packet.campaign_id))
        for (leg, _user, _merchant, pockets), on_hold in zip(planned, held, strict=True):
            if leg.form == "coupon":
                postings.append(Posting(outstanding, leg.amount))  # it becomes a packet the holder can spend
                continue
            if leg.currency == POINTS:
                # The cash cost backs the points; the points themselves are issued from the outside world.
                postings += [
                    Posting(platform_account(AccountKind.POINTS_BACKING), leg.amount),
                    Posting(platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS), -leg.units),
                ]
            postings += (
                [Posting(pockets.pending, leg.units)]
                if hold_until or on_hold
                else postings_into_available(pockets, leg.units, balances)
            )
        txn, _ = ledger_post(
            kind="rebate",
            idempotency_key=f"rebates:redemption:{redemption.pk}",
            reference=f"redemption:{redemption.pk}",
            postings=postings,
        )
        now = timezone.now()
        rebates = Rebate.objects.bulk_create(
            [
                Rebate(
                    redemption=redemption,
                    role=leg.role,
                    beneficiary_user_id=None if merchant_id else user_id,
                    beneficiary_merchant_id=merchant_id,
                    amount=leg.units,
                    currency=leg.currency,
                    cost=leg.amount,
                    funding=leg.funding,
                    form=leg.form,
                    # Coupons are issued at once (unless held): a coupon is spent only on a later order, which has
                    # its own checks.
                    status=Rebate.Status.PENDING if pending else Rebate.Status.CREDITED,
                    hold_until=hold_until if leg.form != "coupon" else None,
                    held_for_review=on_hold,
                    confirmed_at=None if pending else now,
                    coupon=(
                        _coupon_for(amount=leg.amount, funding=leg.funding, redemption=redemption, now=now)
                        if leg.form == "coupon" and not on_hold
                        else None
                    ),
                    ledger_transaction=txn,
                )
                for (leg, user_id, merchant_id, _pockets_), on_hold in zip(planned, held, strict=True)
                for pending in [on_hold or (bool(hold_until) and leg.form != "coupon")]
            ]
        )
        rebate_assessments_record(rebates=rebates, verdicts=verdicts, campaign_id=packet.campaign_id)
        webhooks_emit_rebates_credited([r.pk for r in rebates])  # the credited ones; held ones when confirmed
        # A refund that arrived before the worker: the rebates it reverses are reversed at once.
        refunded = sum((r.amount for r in order.refunds.all()), ZERO)
        if refunded:
            for rebate in rebates:
                _reverse_share(rebate, order=order, refunded_before=ZERO, refunded_now=refunded, key="credit")
        blocked = [r for r, v in zip(rebates, verdicts, strict=True) if v.decision == BLOCK]
        if blocked:
            for rebate in blocked:  # held above, rejected now: the value goes back to its funder, on the record
                publish(RebateBlocked(rebate_id=rebate.pk, reason="blocked by its risk assessment"))
    outbox_mark_done(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
    return rebates


def _coupon_for(*, amount: Decimal, funding: str, redemption: Redemption, now: datetime):
    """The coupon a coupon-form rebate becomes: a packet for the holder, with the terms the rule promised — when the
    rebate is credited, or when a reviewer releases a held one (`rebate_release_hold`)."""
    from packets.codes import new_code
    from packets.models import Packet

    packet = redemption.packet
    terms = redemption.rule_snapshot.get("coupon", {"min_spend": "0.00", "valid_days": 30})
    return Packet.objects.create(
        code=new_code(),
        campaign_id=packet.campaign_id,
        issuer_merchant_id=packet.issuer_merchant_id,
        holder_id=packet.holder_id,
        amount=amount,
        min_spend=Decimal(terms["min_spend"]),
        issued_at=now,
        expires_at=now + timedelta(days=int(terms["valid_days"])),
        funding_account=_funder(packet.campaign_id, funding),
        channel="rebate",
    )


@transaction.atomic
def rebate_confirm(*, rebate_id: int, now: datetime | None = None) -> bool:
    """The hold is over: post what is still pending to the available balance. Returns whether it moved."""
    now = now or timezone.now()
    rebate = Rebate.objects.select_for_update().get(pk=rebate_id)
    if rebate.status != Rebate.Status.PENDING or rebate.held_for_review or (rebate.hold_until or now) > now:
        return False
    _post_confirmation(rebate)
    Rebate.objects.filter(pk=rebate.pk).update(status=Rebate.Status.CREDITED, confirmed_at=now)
    webhooks_emit_rebates_credited([rebate.pk])
    return True


def rebates_confirm_due(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Beat task body: confirm every rebate whose hold has ended (not those held for review)."""
    now = now or timezone.now()
    due = Rebate.objects.filter(status=Rebate.Status.PENDING, held_for_review=False, hold_until__lte=now).values_list(
        "pk", flat=True
    )[:limit]
    return sum(rebate_confirm(rebate_id=pk, now=now) for pk in list(due))


def _reverse_share(rebate: Rebate, *, order, refunded_before: Decimal, refunded_now: Decimal, key: str) -> Decimal:
    """Take back the share of `rebate` that the refunded amount earned. Pending value is voided back to the funder;
    credited value is clawed back from the balance, the rest becoming debt — never silently lost."""
    gross = order.gross_amount
    target = refunded_share(rebate.amount, refunded_now, gross, rebate.currency)
    units = target - rebate.reversed_amount
    if units <= 0:
        return ZERO
    cost = refunded_share(rebate.cost, refunded_now, gross, CNY) - refunded_share(
        rebate.cost, refunded_before, gross, CNY
    )
    pockets = _rebate_pockets(rebate)
    funder = _funder(rebate.redemption.packet.campaign_id, rebate.funding)
    if rebate.form == "coupon":
        postings = _coupon_reversal(rebate, units=units, target=target, funder=funder, pockets=pockets)
    elif rebate.currency == POINTS:
        backing = platform_account(AccountKind.POINTS_BACKING)
        external = platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS)
        # The funder (a budget or the pool) is BUFFERED and only credited here: it needs no lock, and taking it
        # after the order's row would cross a refund that reissues the packet (deposit, then budget).
        balances = ledger_balances_lock([backing, external, pockets.available, pockets.pending, pockets.debt])
        postings = [Posting(funder, cost), Posting(backing, -cost), Posting(external, units)]
    else:
        balances = ledger_balances_lock([pockets.available, pockets.pending, pockets.debt])
        postings = [Posting(funder, units)]
    if rebate.form == "coupon":
        pass
    elif rebate.status == Rebate.Status.PENDING:
        postings.append(Posting(pockets.pending, -units))
    else:
        taken = min(units, balances[pockets.available.pk])
        if taken:
            postings.append(Posting(pockets.available, -taken))
        if units - taken:
            postings.append(Posting(pockets.debt, -(units - taken)))
    ledger_post(
        kind="rebate_reverse",
        idempotency_key=f"rebate:{rebate.pk}:reverse:{key}",
        reference=f"rebate:{rebate.pk}",
        postings=postings,
    )
    rebate.reversed_amount = target
    if target == rebate.amount:
        rebate.status = Rebate.Status.REVERSED
    rebate.save(update_fields=["reversed_amount", "status"])
    webhooks_emit_rebate_reversed(rebate_id=rebate.pk, amount=units, reason=key)
    return units


def _coupon_reversal(rebate: Rebate, *, units: Decimal, target: Decimal, funder, pockets: Pockets) -> list[Posting]:
    """A coupon cannot be split: an unused one is revoked when the whole rebate is reversed; any other share
    reversed becomes the holder's debt, netted from later rebates."""
    from packets.models import Packet

    if rebate.coupon_id is None:  # held for review before its coupon was issued: the value is still outstanding
        outstanding = campaign_outstanding_account(Campaign(pk=rebate.redemption.packet.campaign_id))
        return [Posting(outstanding, -units), Posting(funder, units)]
    coupon = Packet.objects.select_for_update().get(pk=rebate.coupon_id)
    ledger_balances_lock([pockets.debt])
    if coupon.status == Packet.Status.ISSUED and rebate.reversed_amount == 0 and target == rebate.amount:
        Packet.objects.filter(pk=coupon.pk).update(status=Packet.Status.REVOKED)
        return [Posting(campaign_outstanding_account(Campaign(pk=coupon.campaign_id)), -units), Posting(funder, units)]
    return [Posting(pockets.debt, -units), Posting(funder, units)]


def rebates_reverse_for_refund(*, order, refunded_before: Decimal, refunded_now: Decimal, refund_id: int) -> int:
    """Reverse, for every rebate the order's redemption earned, the share its refunds now cover. Called by the
    refund service inside its transaction, with the order row locked. Returns how many rebates moved."""
    redemption = getattr(order, "redemption", None) if order.packet_id else None
    if redemption is None:
        return 0
    moved = 0
    for rebate in (
        Rebate.objects.select_for_update()
        .filter(redemption=redemption)
        .select_related("redemption__packet")
        .order_by("pk")
    ):
        if _reverse_share(
            rebate, order=order, refunded_before=refunded_before, refunded_now=refunded_now, key=f"refund:{refund_id}"
        ):
            moved += 1
    return moved


# --- review decisions: the money side (antifraud/services.py records who decided and why) --------------------------


@transaction.atomic
def rebate_release_hold(*, rebate_id: int, now: datetime | None = None) -> bool:
    """A reviewer cleared a rebate held for review. A held coupon gets its coupon packet now (its value has waited in
    the campaign's outstanding packets); any other rebate is confirmed now when its holding period is over (or it had
    none), else when the hold ends. Returns False when nothing was released: the rebate was not held (a repeated
    release does nothing) or was reversed while held.

    The rebate row is updated ONCE: a second update of a row in one transaction makes PostgreSQL re-check its foreign
    keys at commit (FOR KEY SHARE on the redemption), which a concurrent refund holding the redemption row while it
    waits for this rebate would turn into a deadlock."""
    now = now or timezone.now()
    rebate = Rebate.objects.select_for_update(of=("self",)).select_related("redemption__packet").get(pk=rebate_id)
    if not rebate.held_for_review:
        return False
    changes: dict = {"held_for_review": False}
    credited = False
    if rebate.status != Rebate.Status.PENDING:
        Rebate.objects.filter(pk=rebate.pk).update(**changes)
        return False  # reversed (refunded) while it was held: nothing is left to release
    if rebate.form == "coupon":
        coupon_id = rebate.coupon_id or (
            _coupon_for(
                amount=rebate.amount - rebate.reversed_amount,
                funding=rebate.funding,
                redemption=rebate.redemption,
                now=now,
            ).pk
        )
        changes.update(status=Rebate.Status.CREDITED, confirmed_at=now, coupon=coupon_id)
        credited = True
    elif (rebate.hold_until or now) <= now:
        _post_confirmation(rebate)
        changes.update(status=Rebate.Status.CREDITED, confirmed_at=now)
        credited = True
    Rebate.objects.filter(pk=rebate.pk).update(**changes)
    if credited:
        webhooks_emit_rebates_credited([rebate.pk])
    return True


def _post_confirmation(rebate: Rebate) -> None:
    """The ledger side of `rebate_confirm` (same transaction, same key): what is still pending moves to the available
    balance, paying down any debt first. The caller holds the rebate's row lock and updates its status."""
    remaining = rebate.amount - rebate.reversed_amount
    pockets = _rebate_pockets(rebate)
    balances = ledger_balances_lock([pockets.available, pockets.pending, pockets.debt])
    ledger_post(
        kind="rebate_confirm",
        idempotency_key=f"rebate:{rebate.pk}:confirm",
        reference=f"rebate:{rebate.pk}",
        postings=[Posting(pockets.pending, -remaining), *postings_into_available(pockets, remaining, balances)],
    )


@transaction.atomic
def rebate_reverse_remaining(*, rebate_id: int, key: str) -> Decimal:
    """Take back all that is left of a rebate — a reviewer rejected it, or a penalty revokes it. Pending value is voided
    back to its funder; credited value is taken from the available balance, the rest becoming debt netted from later
    rebates; an unused coupon is revoked; a held coupon not issued yet returns from the outstanding packets.
    One ledger transaction, key `rebate:<id>:reverse:<key>`. Returns the units taken back (0: nothing was left).

    The rebate's row lock is all it takes (refunds take it too), and the refunds are read after it, so a refund and
    a rejection take turns and never reverse the same share twice. No order lock: the rebate worker rejects blocked
    rebates inside its own transaction, with ledger accounts already locked, and a refund locks the order first.
    `held_for_review` is left as it was (a rejected rebate shows it had been held); the row is updated once (see
    `rebate_release_hold`)."""
    rebate = (
        Rebate.objects.select_for_update(of=("self",))
        .select_related("redemption__packet", "redemption__order")
        .get(pk=rebate_id)
    )
    order = rebate.redemption.order
    refunded = sum((r.amount for r in order.refunds.all()), ZERO)
    return _reverse_share(rebate, order=order, refunded_before=refunded, refunded_now=order.gross_amount, key=key)


# --- batch credit: a worker that keeps up (issue 13) ----------------------------------------------------------------

_PLAIN_FORMS = {"cash", "marketing_credit"}


def rebates_credit_batch(*, limit: int | None = None) -> int:
    """Drain up to `limit` due redemption events in one transaction. The rows are claimed with SKIP LOCKED (workers
    share the queue without waiting for each other); the plain ones — cash legs, no refund yet, every verdict allow —
    are credited together in a fixed number of statements, whatever their number; the others, and all of them when
    the batch fails, one at a time, each in its own savepoint, so one bad row cannot hold up the rest (it stays due,
    for the sweeper's per-row retries). Exactly once as before: the claimed rows, the redemption row locks, the
    unique (redemption, role) and the ledger keys. Returns how many events it claimed."""
    limit = limit or settings.REBATE_BATCH_SIZE
    with transaction.atomic():
        claimed = list(
            OutboxEvent.objects.filter(topic=TOPIC_REDEMPTION_REBATES, done_at__isnull=True)
            .order_by("pk")
            .select_for_update(skip_locked=True)
            .values_list("ref_id", flat=True)[:limit]
        )
        if not claimed:
            return 0
        try:
            with transaction.atomic():
                one_by_one = _credit_plain(claimed)
        except Exception:
            log.warning("batch credit of %d redemptions failed; crediting one at a time", len(claimed), exc_info=True)
            one_by_one = claimed
        for redemption_id in one_by_one:
            try:
                with transaction.atomic():
                    rebates_credit_for_redemption(redemption_id=redemption_id)
            except Exception:
                log.exception("crediting redemption %s failed; it stays due", redemption_id)
    return len(claimed)


def _credit_plain(redemption_ids: list[int]) -> list[int]:
    """Credit the plain redemptions among these in one go; return the ids to credit one at a time."""
    redemptions = list(
        Redemption.objects.select_for_update(of=("self", "order"))  # as the one-by-one credit does
        .select_related("order", "packet")
        .filter(pk__in=redemption_ids)
        .order_by("pk")
    )
    credited = set(Rebate.objects.filter(redemption_id__in=redemption_ids).values_list("redemption_id", flat=True))
    refunded = set(
        Refund.objects.filter(order_id__in=[r.order_id for r in redemptions]).values_list("order_id", flat=True)
    )
    rest, planned = [], []
    for redemption in redemptions:
        legs = redemption_legs(redemption)
        if (
            redemption.pk in credited
            or redemption.order_id in refunded
            or any(leg.form not in _PLAIN_FORMS or leg.currency != CNY for leg in legs)
        ):
            rest.append(redemption.pk)
            continue
        packet = redemption.packet
        beneficiaries = []
        for leg in legs:
            user_id = packet.holder_id if leg.role == "holder" else packet.issuer_user_id
            merchant_id = packet.issuer_merchant_id if leg.role == "issuer" and not packet.issuer_user_id else None
            beneficiaries.append((user_id, merchant_id))
        planned.append((redemption, legs, beneficiaries))
    verdicts = rebate_verdicts_many([(r, b) for r, _, b in planned])
    plain = []
    for (redemption, legs, beneficiaries), per_leg in zip(planned, verdicts, strict=True):
        if any(v.decision != ALLOW for v in per_leg):
            rest.append(redemption.pk)  # held or blocked: the one-by-one path records and rejects as it must
        else:
            plain.append((redemption, legs, beneficiaries, per_leg))

    # Every pocket of the batch, created where missing and locked, in two statements.
    kinds = {"issuer_merchant": _POCKET_KINDS["merchant"], "user": _POCKET_KINDS["cash"]}
    wanted = []
    for _redemption, _legs, beneficiaries, _verdicts in plain:
        for user_id, merchant_id in beneficiaries:
            for kind in kinds["issuer_merchant"] if merchant_id else kinds["user"]:
                wanted.append((kind, CNY, None if merchant_id else user_id, merchant_id, None))
    accounts = ledger_accounts_many(wanted)
    balances = {pk: a.balance for pk, a in ledger_accounts_lock(a.pk for a in accounts.values()).items()}

    items, rows = [], []
    now = timezone.now()
    reserves = {}
    for redemption, legs, beneficiaries, per_leg in plain:
        campaign_id = redemption.packet.campaign_id
        reserve = reserves.get(campaign_id) or campaign_reserve_account(Campaign(pk=campaign_id))
        reserves[campaign_id] = reserve
        hold_days = int(redemption.rule_snapshot.get("hold_days", 0))
        hold_until = redemption.used_at + timedelta(days=hold_days) if hold_days else None
        postings = [Posting(reserve, -sum(leg.amount for leg in legs))]
        for leg, (user_id, merchant_id), verdict in zip(legs, beneficiaries, per_leg, strict=True):
            owner = (None if merchant_id else user_id, merchant_id, None)
            kinds_of = kinds["issuer_merchant"] if merchant_id else kinds["user"]
            pockets = Pockets(*(accounts[(kind, CNY, *owner)] for kind in kinds_of))
            postings += (
                [Posting(pockets.pending, leg.units)]
                if hold_until
                else postings_into_available(pockets, leg.units, balances)
            )
            rows.append(
                (
                    f"rebates:redemption:{redemption.pk}",
                    Rebate(
                        redemption=redemption,
                        role=leg.role,
                        beneficiary_user_id=None if merchant_id else user_id,
                        beneficiary_merchant_id=merchant_id,
                        amount=leg.units,
                        currency=leg.currency,
                        cost=leg.amount,
                        funding=leg.funding,
                        form=leg.form,
                        status=Rebate.Status.PENDING if hold_until else Rebate.Status.CREDITED,
                        hold_until=hold_until,
                        held_for_review=False,
                        confirmed_at=None if hold_until else now,
                    ),
                    verdict,
                    campaign_id,
                )
            )
        items.append((f"rebates:redemption:{redemption.pk}", f"redemption:{redemption.pk}", postings))
    transactions = ledger_post_many(kind="rebate", items=items)
    for key, rebate, _, _ in rows:
        rebate.ledger_transaction_id = transactions[key]
    rebates = Rebate.objects.bulk_create([rebate for _, rebate, _, _ in rows])
    rebate_assessments_record_many([(r, v, c) for r, (_, _, v, c) in zip(rebates, rows, strict=True)])
    OutboxEvent.objects.filter(
        topic=TOPIC_REDEMPTION_REBATES, ref_id__in=[r.pk for r, *_ in plain], done_at__isnull=True
    ).update(done_at=now)
    webhooks_emit_rebates_credited([r.pk for r in rebates])
    return rest


_POCKET_KINDS = {
    "merchant": (AccountKind.MERCHANT_MARKETING_CREDIT, AccountKind.MERCHANT_CREDIT_PENDING, AccountKind.MERCHANT_DEBT),
    "cash": (AccountKind.SHOPPER_CASH, AccountKind.SHOPPER_CASH_PENDING, AccountKind.SHOPPER_DEBT),
}
