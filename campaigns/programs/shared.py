"""What the three programs share: the inviter's or teacher's cash pockets, an order's refunds so far, taking a
reversed share back from a beneficiary, and the budget error. The programs themselves are `referral.py`,
`milestone.py` and `trial.py`; an order's hook and its refunds are `orders.py`, the books' check `audit.py`.

Every money move is one `ledger_post` with its own idempotency key, taken under a row lock of the business row
(order, enrolment, feedback) that a unique constraint also stands behind: each effect happens exactly once, however
often a task, request or admin action is repeated. The pure pieces (amounts, windows, grades) take plain data.

Refunds: the share of a program reward that the refunded amount earned is taken back. The rules are the packet
rebates' (`rebates.services.rebates_reverse_for_refund`): the reversed share is cumulative (`reversed_amount` =
amount × refunded / gross, rounded once), so partial refunds never add up to more than the reward; value still held
is voided back to its funder; credited value is taken from the beneficiary's available balance and what the balance
no longer holds (paid out, spent) becomes a debt netted from later rewards — never silently lost. Each step is one
ledger transaction keyed by the refund, under the reward row's lock.
"""

from decimal import Decimal

from common.errors import Conflict
from common.money import CNY, ZERO
from packets.models import Order, Refund
from rebates.ledger import Posting
from rebates.ledger.postings import Pockets, beneficiary_pockets


class ProgramBudgetExhausted(Conflict):
    code = "budget_exhausted"


def cash_pockets(user_id: int) -> Pockets:
    return beneficiary_pockets(role="holder", form="cash", currency=CNY, user_id=user_id, merchant_id=None)


def order_refunded(order: Order) -> Decimal:
    return sum(Refund.objects.filter(order_id=order.pk).values_list("amount", flat=True), start=ZERO)


def claw_back(pockets: Pockets, units: Decimal, balances: dict[int, Decimal]) -> list[Posting]:
    """Take `units` from the available balance; what it does not hold becomes debt."""
    taken = min(units, max(balances[pockets.available.pk], ZERO))
    postings = [Posting(pockets.available, -taken)] if taken else []
    if units - taken:
        postings.append(Posting(pockets.debt, -(units - taken)))
    return postings
