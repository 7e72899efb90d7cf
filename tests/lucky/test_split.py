"""The double-mean split: exact to the fen, bounded, shuffled, reproducible under a seed."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lucky.split import double_mean_split, equal_split


@st.composite
def packets(draw):
    count = draw(st.integers(min_value=1, max_value=100))
    total_fen = draw(st.integers(min_value=count, max_value=20_000))
    return total_fen, count


@given(packets(), st.integers(min_value=0))
def test_shares_sum_to_the_total_and_there_are_n_of_them(packet, seed):
    total_fen, count = packet
    shares = double_mean_split(total_fen, count, random.Random(seed))
    assert len(shares) == count
    assert sum(shares) == total_fen
    assert all(isinstance(s, int) for s in shares)


class RecordingRandom(random.Random):
    """A seeded source that remembers each draw's bounds, so the test sees what remained at every draw."""

    def __init__(self, seed):
        super().__init__(seed)
        self.draws = []

    def randint(self, a, b):
        value = super().randint(a, b)
        self.draws.append(value)
        return value


@given(packets(), st.integers(min_value=0))
def test_every_share_is_at_least_one_fen_and_each_draw_at_most_twice_the_remaining_mean(packet, seed):
    total_fen, count = packet
    rng = RecordingRandom(seed)
    shares = double_mean_split(total_fen, count, rng)
    assert min(shares) >= 1
    remaining = total_fen
    for left, draw in zip(range(count, 0, -1), [*rng.draws, None], strict=True):
        draw = remaining if draw is None else draw  # the last share is what remains
        assert draw >= 1
        assert draw * left <= 2 * remaining  # draw ≤ 2 × (remaining / left), in integers
        remaining -= draw
    assert remaining == 0
    assert sorted(shares) == sorted([*rng.draws, total_fen - sum(rng.draws)])


@given(packets(), st.integers(min_value=0))
def test_the_same_seed_gives_the_same_split(packet, seed):
    total_fen, count = packet
    assert double_mean_split(total_fen, count, random.Random(seed)) == double_mean_split(
        total_fen, count, random.Random(seed)
    )


def test_the_shares_come_out_shuffled_not_in_draw_order():
    # Unshuffled, the last (remainder) share would sit last every time; over many seeds it does not.
    last_is_remainder = 0
    for seed in range(200):
        rng = RecordingRandom(seed)
        shares = double_mean_split(10_000, 10, rng)
        last_is_remainder += shares[-1] == 10_000 - sum(rng.draws)
    assert last_is_remainder < 60


def test_one_fen_each_is_the_only_split_when_the_total_is_n_fen():
    assert double_mean_split(5, 5) == [1, 1, 1, 1, 1]


def test_the_default_source_is_secrets():
    import secrets

    from lucky import split

    assert isinstance(split.SYSTEM_RANDOM, secrets.SystemRandom)


@pytest.mark.parametrize("total_fen, count", [(4, 5), (10, 0)])
def test_an_impossible_split_is_refused(total_fen, count):
    with pytest.raises(ValueError):
        double_mean_split(total_fen, count)


def test_equal_shares_only_when_the_total_divides():
    assert equal_split(1000, 4) == [250, 250, 250, 250]
    assert equal_split(1000, 3) is None
