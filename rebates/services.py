"""Rebate computation and crediting: the worker side of a redemption."""

from decimal import Decimal

from django.db import transaction

from campaigns.models import Campaign
from campaigns.rules import CartLine, RebateLeg, rebate_legs
from campaigns.selectors import campaign_reserve_account
from common.money import POINTS
from packets.models import Redemption

from .ledger import Posting, ledger_account, ledger_post, platform_account
from .models import AccountKind, Rebate
from .outbox import TOPIC_REDEMPTION_REBATES, outbox_mark_done


def redemption_legs(redemption: Redemption) -> tuple[RebateLeg, ...]:
    """The legs a redemption pays, recomputed from what it recorded: its items, discount, time and rule snapshot."""
    lines = [CartLine(i["category"], i["quantity"], Decimal(i["unit_price"])) for i in redemption.items]
    return rebate_legs(redemption.rule_snapshot, lines=lines, discount=redemption.order.discount, at=redemption.used_at)


@transaction.atomic
def rebates_credit_for_redemption(*, redemption_id: int) -> list[Rebate]:
    """Compute both legs from the rule snapshot taken at redemption and credit them in ONE ledger transaction.

    Exactly once: the redemption row lock serialises concurrent runs; a run that finds rebates already there
    does nothing; the unique (redemption, role) constraint and the ledger key stand behind that."""
    redemption = (
        Redemption.objects.select_for_update(of=("self",)).select_related("order", "packet").get(pk=redemption_id)
    )
    existing = list(redemption.rebates.all())
    if existing:
        outbox_mark_done(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
        return existing

    packet = redemption.packet
    legs = redemption_legs(redemption)
    rebates: list[Rebate] = []
    if legs:
        reserve = campaign_reserve_account(Campaign(pk=packet.campaign_id))
        postings = [Posting(reserve, -sum(leg.amount for leg in legs))]
        for leg in legs:
            if leg.role == "issuer" and packet.issuer_user_id:
                # A person who sent the packet (or invited the shopper) gets cash.
                postings.append(
                    Posting(ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=packet.issuer_user_id), leg.amount)
                )
            elif leg.role == "issuer":
                postings.append(
                    Posting(
                        ledger_account(
                            kind=AccountKind.MERCHANT_MARKETING_CREDIT, merchant_id=packet.issuer_merchant_id
                        ),
                        leg.amount,
                    )
                )
            elif leg.currency == POINTS:
                # The cash cost backs the points; the points themselves are issued from the outside world.
                postings += [
                    Posting(platform_account(AccountKind.POINTS_BACKING), leg.amount),
                    Posting(platform_account(AccountKind.PLATFORM_EXTERNAL, POINTS), -leg.units),
                    Posting(
                        ledger_account(kind=AccountKind.SHOPPER_POINTS, currency=POINTS, user_id=packet.holder_id),
                        leg.units,
                    ),
                ]
            else:
                postings.append(
                    Posting(ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=packet.holder_id), leg.amount)
                )
        txn, _ = ledger_post(
            kind="rebate",
            idempotency_key=f"rebates:redemption:{redemption.pk}",
            reference=f"redemption:{redemption.pk}",
            postings=postings,
        )
        rebates = Rebate.objects.bulk_create(
            [
                Rebate(
                    redemption=redemption,
                    role=leg.role,
                    beneficiary_merchant_id=(
                        packet.issuer_merchant_id if leg.role == "issuer" and not packet.issuer_user_id else None
                    ),
                    beneficiary_user_id=packet.holder_id if leg.role == "holder" else (packet.issuer_user_id or None),
                    amount=leg.units,
                    currency=leg.currency,
                    form=leg.form,
                    ledger_transaction=txn,
                )
                for leg in legs
            ]
        )
    outbox_mark_done(topic=TOPIC_REDEMPTION_REBATES, ref_id=redemption.pk)
    return rebates
