"""Money arithmetic. The ONE rounding rule of the project lives here.

Amounts are `Decimal` in CNY with two places (fen), or whole POINTS. Never float.
Rule: round half up (四舍五入) to the unit's precision — the rule shoppers and accountants in China expect.
Splits allocate in integer minor units so the parts always sum to the whole.
"""

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

CNY = "CNY"
POINTS = "POINTS"
CURRENCIES = (CNY, POINTS)
_QUANTUM = {CNY: Decimal("0.01"), POINTS: Decimal("1")}
ZERO = Decimal("0.00")


class MoneyError(ValueError):
    pass


def quantize(amount: Decimal, currency: str = CNY) -> Decimal:
    """Round `amount` to its currency's precision, half up. Every rounding in the project calls this."""
    if not isinstance(amount, Decimal):
        raise MoneyError(f"money must be Decimal, got {type(amount).__name__}")
    return amount.quantize(_QUANTUM[currency], rounding=ROUND_HALF_UP)


def percent_of(base: Decimal, rate_percent: Decimal, currency: str = CNY) -> Decimal:
    """`rate_percent` % of `base`, rounded once at the end."""
    return quantize(base * rate_percent / Decimal(100), currency)


def parse_amount(value, *, currency: str = CNY) -> Decimal:
    """Strict parse of an external amount: a string or int with at most the currency's places. No floats."""
    if isinstance(value, float | bool):
        raise MoneyError("amount must be a decimal string")
    try:
        amount = Decimal(str(value).strip())
    except (InvalidOperation, ValueError) as exc:
        raise MoneyError("not a number") from exc
    if not amount.is_finite():
        raise MoneyError("not a finite number")
    if amount != amount.quantize(_QUANTUM[currency]):
        raise MoneyError("too many decimal places")
    return amount.quantize(_QUANTUM[currency])


def to_minor(amount: Decimal) -> int:
    return int(quantize(amount) * 100)


def from_minor(fen: int) -> Decimal:
    return (Decimal(fen) / 100).quantize(_QUANTUM[CNY])


def allocate(total: Decimal, weights: list[int | Decimal]) -> list[Decimal]:
    """Split `total` (CNY) across `weights` in whole fen; largest remainders get the leftover fen."""
    total_fen = to_minor(total)
    weight_sum = sum(Decimal(w) for w in weights)
    if weight_sum <= 0:
        raise MoneyError("weights must sum to a positive number")
    exact = [Decimal(total_fen) * Decimal(w) / weight_sum for w in weights]
    parts = [int(x) for x in exact]
    leftover = total_fen - sum(parts)
    by_remainder = sorted(range(len(weights)), key=lambda i: (exact[i] - parts[i], -i), reverse=True)
    for i in by_remainder[:leftover]:
        parts[i] += 1
    return [from_minor(p) for p in parts]


def format_cny(amount: Decimal) -> str:
    return f"¥{quantize(amount):,.2f}"
