import re
from datetime import UTC, date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from common.datetimes import ACCEPTED_PATTERN, RFC3339_PATTERN, DateTimeError, format_datetime, parse_datetime

SHANGHAI = ZoneInfo("Asia/Shanghai")
WHOLE_MINUTE_OFFSETS = st.integers(min_value=-(23 * 60 + 59), max_value=23 * 60 + 59).map(
    lambda minutes: timezone(timedelta(minutes=minutes))
)
IN_RANGE = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59))


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("0808-04-18T05:27:31+03:51", "year"),  # the acceptance run's date, stored and echoed as +08:05:43
        ("1999-12-31T23:59:59Z", "year"),
        ("2101-01-01T00:00:00Z", "year"),
        ("2026-03-01T09:30:00+03:51:30", "invalid"),  # an offset with seconds is not RFC 3339
        ("2026-03-01T09:30:00", "invalid"),  # no offset
        ("2026-03-01", "invalid"),
        ("2026-03-01 09:30:00+08:00", "invalid"),
        ("2026-02-30T09:30:00+08:00", "invalid"),
        ("2026-03-01T24:00:00+08:00", "invalid"),
        ("2026-03-01T09:30:00.1234567+08:00", "invalid"),
        ("20260301T093000Z", "invalid"),
        ("2026-03-01T09:30:00+08:00\n", "invalid"),
        (" 2026-03-01T09:30:00+08:00", "invalid"),
    ],
)
def test_parse_datetime_refuses_what_is_not_rfc3339_in_range(text, code):
    with pytest.raises(DateTimeError) as refused:
        parse_datetime(text)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01T09:30:00+08:00", datetime(2026, 3, 1, 1, 30, tzinfo=UTC)),
        ("2026-03-01t01:30:00z", datetime(2026, 3, 1, 1, 30, tzinfo=UTC)),
        ("2026-03-01T01:30:00.5Z", datetime(2026, 3, 1, 1, 30, 0, 500_000, tzinfo=UTC)),
        ("2000-01-01T00:00:00+03:51", datetime(1999, 12, 31, 20, 9, tzinfo=UTC)),
        ("2100-12-31T23:59:59-12:00", datetime(2101, 1, 1, 11, 59, 59, tzinfo=UTC)),
    ],
)
def test_parse_datetime_reads_rfc3339_with_its_offset(text, expected):
    assert parse_datetime(text) == expected


def test_a_moment_whose_local_offset_has_seconds_is_written_in_utc():
    lmt = datetime(808, 4, 18, 5, 27, 31, tzinfo=SHANGHAI)  # local mean time, +08:05:43
    assert format_datetime(lmt) == "0808-04-17T21:21:48Z"


@given(IN_RANGE, WHOLE_MINUTE_OFFSETS | st.just(SHANGHAI))
def test_every_moment_in_range_is_written_in_rfc3339_and_reads_back_as_itself(local, zone):
    moment = local.replace(tzinfo=zone)
    text = format_datetime(moment)
    assert re.fullmatch(RFC3339_PATTERN, text)
    assert parse_datetime(text) == moment
    if moment.utcoffset() == timedelta(0):
        assert text.endswith("Z")


@given(st.text(max_size=32) | st.text(alphabet="0123456789-:T+.Z ", min_size=19, max_size=32))
def test_arbitrary_text_either_matches_the_accepted_grammar_and_parses_or_is_refused(text):
    matches = re.fullmatch(ACCEPTED_PATTERN, text) is not None
    try:
        moment = parse_datetime(text)
    except DateTimeError:
        assert not matches or not _a_real_day(text)
    else:
        assert matches and moment.tzinfo is not None


def _a_real_day(text: str) -> bool:
    try:
        date(int(text[0:4]), int(text[5:7]), int(text[8:10]))
    except ValueError:
        return False
    return True
