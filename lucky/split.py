"""The split of a lucky packet, in integer fen (pure: no database).

Double-mean method (二倍均值法): each draw is uniform in [1, ⌊2 × remaining / shares left⌋] fen, never leaving fewer
fen than shares still to draw; the last share is what remains. So every share is ≥ 1 fen, each draw ≤ twice the mean
of what remains, and the shares sum exactly to the total. The result is shuffled, so the order grabbers take shares
in says nothing about the order they were drawn in (the early draws are the spread-out ones)."""

import random
import secrets

# `secrets`' generator (the OS's): an unpredictable split. Tests pass a seeded `random.Random` instead.
SYSTEM_RANDOM = secrets.SystemRandom()


def double_mean_split(total_fen: int, count: int, rng: random.Random = SYSTEM_RANDOM) -> list[int]:
    if count < 1 or total_fen < count:
        raise ValueError("need at least one share and one fen per share")
    shares = []
    remaining = total_fen
    for left in range(count, 1, -1):
        upper = min(2 * remaining // left, remaining - (left - 1))
        draw = rng.randint(1, upper)
        shares.append(draw)
        remaining -= draw
    shares.append(remaining)
    rng.shuffle(shares)
    return shares


def equal_split(total_fen: int, count: int) -> list[int] | None:
    """N equal shares, or None when the total does not divide into N equal whole fen."""
    if count < 1 or total_fen % count:
        return None
    return [total_fen // count] * count
