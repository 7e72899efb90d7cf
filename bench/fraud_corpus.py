"""Fraud corpus: honest shoppers and every attack kind, run through the real pages and API, scored by the anti-fraud
system; reports per attack kind how much of the abusive rebate value was held or blocked, and how much honest value
was held (false positives).

    python -m config.runstack test --durable -- python bench/fraud_corpus.py          # `make fraud`
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rp_corpus REDIS_URL=redis://127.0.0.1:6379/9 \
        .venv/bin/python bench/fraud_corpus.py --seed 7 --json var/fraud.json

What runs (all in this process, against the real database and the shared Redis):
* Every request goes through Django's test `Client` (pages: sign-up, store, cart, checkout, claim) or DRF's
  `APIClient` (merchant servers: `POST /api/v1/trail/events/`, `POST /api/v1/orders/`) — the same URL routing,
  middleware (device cookie, banned users), views, serializers, forms and services as gunicorn would run; only the
  HTTP socket is skipped. Each simulated phone is one `Client` (its signed device cookie) with its own REMOTE_ADDR.
* After each redemption the rebate worker's service runs (`rebates.services.rebates_credit_for_redemption`, what
  the Celery task `credit_redemption_rebates` calls); the broker is not used (publishing is switched off).
* Celery beat's detectors (`antifraud.detectors.detect_all`) run every simulated hour, day and night, and once more
  after the last action.

Time. The corpus simulates `--days` days of activity (08:00–18:00 each day) in a few minutes. Limits, trails and
detectors compare stored timestamps with the wall clock, so simulated time passes by moving stored timestamps
backwards, exactly as far as the simulated time advanced — which is what real elapsed time would have left in
them, relative to "now":
* every 10-minute tick (and each night, in one step), `shift_stored_times` moves back: EarnCounter.last_at (and its
  `day`, recomputed in TIME_ZONE), EarningEvent.at, User.date_joined, Order.created_at and the created_at of
  redemptions' RiskAssessments (the scripted-trail detector's window); TrailEvent.at of steps
  younger than 3 hours, TrailSession.signed_at of signatures younger than 25 hours and Packet.issued_at of packets
  younger than an hour (older ones are read by nothing: the trail window is 2 hours, the signature window a day, the
  "just earned" signal 120 s; frozen above that age they stay outside). These are every timestamp the limits, the
  risk signals and the detectors compare with now or with one another — shifting only some of them would break
  comparisons such as "signed up from an IP the inviter earned from within 30 minutes". Not moved: DeviceUse and
  Device times (read only against a 30-day window, longer than the period) and the money side (redemptions,
  rebates, the ledger: nothing in anti-fraud reads their times, and rebates are held `hold_days` (7) days, longer
  than the simulated period);
* a shopping trail's steps are recorded as the pages or the merchant's server send them, then, just before the
  order, moved back so that they lie the planned human (or bot) gaps apart (`restamp_trail`);
* an existing account's User.date_joined is moved back by its age when it is created (before the campaigns start);
* django-ratelimit's fixed windows live in Redis: the key prefix changes every simulated hour, which is what the
  windows rolling over would do.
Days. The daily limits and the packet-farm detector count per local date, and "now" is the wall clock, which
barely moves during a run: an event of age a lies on today's date iff a < the local time of day now. So the corpus
runs with a fixed-offset TIME_ZONE (`Etc/GMT±N`) in which the wall clock reads 12:xx, and shoppers act between
08:00 and 18:00 (simulated): events of the current simulated day are then < 11 hours old (today), those of earlier
days ≥ 14 hours old (an earlier date), whatever the hour the corpus is run at — every simulated day falls on one
local date, and a new one starts with the first tick of the next morning. A run must end within the hour.

Campaigns use a risk policy with `trail_required=True` (fake orders are only recognisable by their missing or
scripted trail) and `hold_days=7`: detectors run after the fact, and a finding can only hold money that is still
pending — the holding period (a return window) is what gives them the time.

Warm-up. A platform under test has been running: the detectors' window (7 days) holds an IP's regulars, a shop's
usual customers. So for `warmup_days` (7) before the measured period, established honest shoppers make their ordinary
journeys at the period's pace (each from its own random stream, so the period's plan is the same with or without
it); nothing of the warm-up is counted, and no attacker acts in it (no history speaks for them). `--warmup-days 0`
measures a cold start.

Attack kinds (each attacker is given the same human trail generator as honest shoppers unless the kind is a bot):
packet farming (on one phone, or wiping the browser before each sign-up), fake orders (no trail / too fast / one
scripted shape replayed), merchant–consumer collusion, referral farms, self-referral. Circular packet flows (A→B→A)
cannot be produced: the only packets with a person as issuer are referral packets (inviter → invitee, set once at
sign-up), so no API or page lets B send a packet back to A; the kind is reported as not applicable. Attackers are not
made dumber than described: they pace their actions (they wait `retry_after`, stop for the day at a daily limit),
spend packets hours after receiving them, and use human timing when they are humans.

Value. An attempt is one packet the actor means to spend; its value is what the rules would pay on that spend
(`campaigns.rules.rebate_legs` on the campaign's rule and the planned cart). Outcomes: paid (rebates credited or
pending, not held), held (held_for_review, or rejected), blocked (the packet was never issued/claimed, the spend
was refused by a limit (429) or the risk verdict (403), or the sign-up was rate-limited), deferred (a retry fell
after the simulated period: counted in neither share).

Targets (issue #6): ≥ 95 % of abusive value held or blocked per kind; ≤ 1 % of honest value held.
Exit status: 0 when the run completed and `manage.py audit` is clean (targets are reported; `--strict` fails on a
miss too), 1 otherwise.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import json
import math
import os
import random
import re
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `python bench/fraud_corpus.py` puts bench/ first on sys.path, where bench/common.py would shadow the project's
# `common` app: import from the project root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def corpus_time_zone(now: datetime | None = None) -> str:
    """A fixed-offset zone in which the wall clock now reads 12:xx (see the module docstring, Days)."""
    hour = (now or datetime.now(UTC)).astimezone(UTC).hour
    offset = (12 - hour) % 24
    if offset > 14:
        offset -= 24
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{-offset:+d}"  # the Etc/ zones' sign is inverted


if __name__ == "__main__":
    from bench import common as bc

    bc.require_database_url()
    os.environ["TIME_ZONE"] = corpus_time_zone()
    bc.django_setup()

from django.conf import settings  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.db.models import Max  # noqa: E402
from django.test import Client  # noqa: E402
from django.utils import timezone  # noqa: E402
from rest_framework.authtoken.models import Token  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from accounts.models import Merchant, MerchantStaff, User  # noqa: E402
from antifraud import detectors  # noqa: E402
from antifraud.models import (  # noqa: E402
    EarnCounter,
    EarningEvent,
    Finding,
    ReviewAction,
    RiskAssessment,
    RiskPolicy,
    TrailEvent,
    TrailSession,
)
from bench.fraud_lucky import LuckyConfig, run_lucky  # noqa: E402
from campaigns.models import Campaign, EarnRule, RebateRule  # noqa: E402
from campaigns.rules import CartLine, rebate_legs  # noqa: E402
from campaigns.selectors import campaign_with_rules, rebate_spec  # noqa: E402
from campaigns.services import campaign_fund, merchant_deposit, platform_pool_fund  # noqa: E402
from common.errors import ApplicationError  # noqa: E402
from packets import batch as packets_batch  # noqa: E402
from packets import services as packets_services  # noqa: E402
from packets.models import Order, Packet, Product, Redemption  # noqa: E402
from rebates import outbox  # noqa: E402
from rebates.models import Rebate  # noqa: E402
from rebates.services import rebates_credit_for_redemption  # noqa: E402

D = Decimal
TICK = 10  # minutes: the limits' minimum interval
DAY = 24 * 60
OPEN, CLOSE = 8 * 60, 18 * 60  # shoppers act between 08:00 and 18:00 (simulated); see the docstring, Days
PASSWORD = "corpus-Pa55-word"
HOLD_DAYS = 7

KINDS = ("packet_farm", "fake_orders", "collusion", "referral_farm", "self_referral", "circular_flow")
FAKE_MODES = ("no_trail", "too_fast", "scripted")
NOT_APPLICABLE = {
    "circular_flow": (
        "not applicable to rebate packets (a person issues only referral packets, fixed at sign-up); lucky money's "
        "loops and rings are measured below (lucky_loop, lucky_ring)"
    )
}
TARGET_CAUGHT = 95.0
TARGET_HONEST_HELD = 1.0


# --- configuration -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    seed: int = 6
    days: int = 3
    honest: int = 300
    farms: int = 4
    farm_accounts: int = 8
    fresh_device_farms: int = 4  # packet farms wiping the browser before each sign-up (one IP, a device per account)
    fake_no_trail: int = 10
    fake_too_fast: int = 10
    fake_scripted: int = 12
    colluding_merchants: int = 4
    colluders: int = 4  # per colluding merchant
    referral_farms: int = 4
    farm_invitees: int = 8
    self_referrals: int = 16
    detect_every: int = 60  # minutes between detector runs (beat's default is 10: hourly is the harder case)
    warmup_days: int = 7  # established honest shoppers shop before the period (not measured): the detectors' window
    rebates: bool = True  # the rebate corpus (False: --lucky-only)
    lucky: bool = True  # the lucky-money phase (bench/fraud_lucky.py)
    lucky_families: int = 24
    lucky_classes: int = 3
    lucky_loops: int = 4
    lucky_rings: int = 6
    lucky_batched_rings: int = 3
    lucky_puppet_masters: int = 3
    lucky_puppets: int = 5

    @classmethod
    def small(cls, seed: int = 6) -> Config:
        """The test suite's corpus: every kind, a fraction of the size, two days."""
        return cls(
            seed=seed,
            days=2,
            honest=48,
            farms=2,
            farm_accounts=6,
            fresh_device_farms=2,
            fake_no_trail=4,
            fake_too_fast=4,
            fake_scripted=6,
            colluding_merchants=2,
            colluders=3,
            referral_farms=2,
            farm_invitees=5,
            self_referrals=5,
            lucky_families=6,
            lucky_classes=1,
            lucky_loops=2,
            lucky_rings=3,
            lucky_batched_rings=1,
            lucky_puppet_masters=1,
        )


# --- catalogue and carts -------------------------------------------------------------------------------------------

CATALOGUE = [("A", "Sample pack", D("29.90")), ("B", "Daily box", D("68.00")), ("C", "Gift set", D("129.00"))]
CATALOGUE += [("D", "Family hamper", D("239.00"))]
PRICES = {sku: price for sku, _name, price in CATALOGUE}
NAMES = {sku: name for sku, name, _price in CATALOGUE}
EARN_CARTS = [(("D", 1),), (("C", 1), ("B", 1), ("A", 1)), (("C", 2),), (("D", 1), ("A", 1))]  # ≥ 200: earns a packet
SPEND_CARTS = [(("B", 1),), (("C", 1),), (("A", 2),), (("B", 1), ("A", 1)), (("C", 1), ("A", 1))]  # 50–199
JOURNEYS, JOURNEY_WEIGHTS = (1, 2, 3), (50, 35, 15)  # an honest shopper's journeys in the period
CHEAPEST = (("A", 2),)  # 59.80: the least an attacker must spend to use a packet with a 50.00 minimum
CHAIN = (("D", 1),)  # 239.00: spends a packet and earns the next one


def cart_total(cart) -> Decimal:
    return sum((PRICES[sku] * qty for sku, qty in cart), D("0.00"))


# --- time ----------------------------------------------------------------------------------------------------------


def _shift_sql() -> list[str]:
    t = {
        "ec": EarnCounter._meta.db_table,
        "ee": EarningEvent._meta.db_table,
        "te": TrailEvent._meta.db_table,
        "ts": TrailSession._meta.db_table,
        "u": User._meta.db_table,
        "p": Packet._meta.db_table,
        "o": Order._meta.db_table,
        "ra": RiskAssessment._meta.db_table,
    }
    # Rows older than the longest window that reads them are left where they are: their age is frozen above that
    # window, so they stay outside it (trail steps: 2 h; trail signatures: 1 day; a packet's age: 120 s).
    return [
        f"UPDATE {t['ec']} SET last_at = last_at - %(d)s, day = ((last_at - %(d)s) AT TIME ZONE %(tz)s)::date",
        f"UPDATE {t['ee']} SET at = at - %(d)s",
        f"UPDATE {t['te']} SET at = at - %(d)s WHERE at > now() - interval '3 hours'",
        f"UPDATE {t['ts']} SET signed_at = signed_at - %(d)s WHERE signed_at > now() - interval '25 hours'",
        f"UPDATE {t['u']} SET date_joined = date_joined - %(d)s",
        f"UPDATE {t['p']} SET issued_at = issued_at - %(d)s WHERE issued_at > now() - interval '1 hour'",
        f"UPDATE {t['o']} SET created_at = created_at - %(d)s",
        f"UPDATE {t['ra']} SET created_at = created_at - %(d)s WHERE subject = 'redemption'",
    ]


def shift_stored_times(delta: timedelta) -> None:
    """`delta` of simulated time passes: move every timestamp anti-fraud compares with now back by it."""
    with transaction.atomic(), connection.cursor() as cursor:
        for sql in _shift_sql():
            cursor.execute(sql, {"d": delta, "tz": settings.TIME_ZONE})


def restamp_trail(key: str, since_pk: int, gaps: list[int]) -> None:
    """The steps recorded in session `key` after `since_pk` happened `gaps` seconds apart (the last gap: to the order,
    which follows at once). Moves them back from the time they were sent."""
    events = list(TrailEvent.objects.filter(session__key=key, pk__gt=since_pk).order_by("pk").values_list("pk", "at"))
    if len(events) != len(gaps):
        raise RuntimeError(f"trail {key}: {len(events)} steps recorded, {len(gaps)} planned")
    now = timezone.now()
    for i, (pk, at) in enumerate(events):
        target = now - timedelta(seconds=sum(gaps[i:]))
        if target > at:
            raise RuntimeError("a trail step would move forward in time")
        TrailEvent.objects.filter(pk=pk).update(at=target)


def human_gaps(rng: random.Random, steps: int) -> list[int]:
    """Seconds between a person's steps (and from the last step to the order): ~10–120 s, mostly 20–60."""
    return [int(min(120, max(10, rng.lognormvariate(math.log(35), 0.65)))) for _ in range(steps)]


def day_of(minute: int) -> int:
    return minute // DAY


def active(minute: int) -> int:
    """The first tick at or after `minute` inside shopping hours."""
    minute = -(-minute // TICK) * TICK
    tod = minute % DAY
    if tod < OPEN:
        return minute - tod + OPEN
    if tod > CLOSE:
        return minute - tod + DAY + OPEN
    return minute


def random_minute(rng: random.Random, days: int, *, after: int = 0, lo: int = OPEN, hi: int = CLOSE - 60) -> int:
    day = rng.randrange(day_of(after), days) if day_of(after) < days else days
    minute = day * DAY + rng.randrange(lo, hi, TICK)
    return active(max(minute, after))


# --- instrumentation: which refusal a page showed ------------------------------------------------------------------


class Refusals:
    """Remembers the ApplicationError a service raised during the last request (pages show it only as text)."""

    code: str | None = None
    details: dict = {}  # the last request's (one request at a time)

    @classmethod
    def reset(cls) -> None:
        cls.code, cls.details = None, {}

    @classmethod
    def wrap(cls, fn: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except ApplicationError as exc:
                cls.code, cls.details = exc.code, dict(exc.details or {})
                raise

        wrapper.__wrapped__ = fn
        return wrapper


def instrument() -> Callable[[], None]:
    """Record refusals of the order and claim services; publish no Celery tasks (the corpus runs the worker's
    service itself). Returns the undo."""
    saved = (packets_services.order_create, packets_batch.packet_claim, outbox.outbox_publish)
    packets_services.order_create = Refusals.wrap(saved[0])
    packets_batch.packet_claim = Refusals.wrap(saved[1])
    outbox.outbox_publish = lambda topic, ref_id: False

    def undo():
        packets_services.order_create, packets_batch.packet_claim, outbox.outbox_publish = saved

    return undo


# --- attempts ------------------------------------------------------------------------------------------------------

PAID, HELD, BLOCKED, DEFERRED, PLANNED = "paid", "held", "blocked", "deferred", "planned"


@dataclass
class Attempt:
    id: int
    kind: str  # "honest" or an attack kind
    sub: str  # honest: the shopper's group; fake_orders: the mode; else the packet's channel
    actor: str
    packet: str  # what is spent: "merchant", "newbie", "referral", "share", "leaflet"
    value: Decimal  # what the rules would pay on the planned spend
    outcome: str = PLANNED
    reason: str = ""  # refusal code, or how it was held
    redemption_id: int | None = None
    paid: Decimal = Decimal("0.00")
    held: Decimal = Decimal("0.00")
    other: Decimal = Decimal("0.00")  # honest orders: legs paid or held to an attacking merchant, not counted above


@dataclass
class Result:
    ok: bool
    code: str = ""
    details: dict = field(default_factory=dict)
    order_id: int | None = None
    redemption_id: int | None = None
    earned: list[str] = field(default_factory=list)


# --- the simulated world -------------------------------------------------------------------------------------------


class IpPool:
    def __init__(self):
        self.counters = defaultdict(itertools.count)

    def take(self, prefix: str) -> str:
        n = next(self.counters[prefix]) + 1
        return f"{prefix}.{n // 250}.{n % 250 + 1}"


class Phone:
    """One browser on one phone: a test Client keeping its cookies (the signed device id, the session)."""

    def __init__(self, ip: str, label: str):
        self.client = Client()
        self.ip = ip
        self.label = label  # also the device id merchants' servers report for it
        self.user: User | None = None

    def get(self, path: str, **kwargs):
        return self.client.get(path, REMOTE_ADDR=self.ip, **kwargs)

    def post(self, path: str, data: dict | None = None):
        return self.client.post(path, data or {}, REMOTE_ADDR=self.ip)

    def use(self, user: User) -> None:
        if self.user is None or self.user.pk != user.pk:
            self.client.force_login(user)
            self.user = user

    def sign_out(self) -> None:
        if self.user is not None:
            self.post("/accounts/logout/")
            self.user = None

    def trail_key(self) -> str:
        return "page:" + self.client.session["antifraud_trail"]


@dataclass
class Shop:
    merchant: Merchant
    campaign: Campaign
    channel: str  # "store" (the platform's pages) or "api" (the merchant's own site, reporting to our API)
    code: str
    api: APIClient | None = None
    products: dict[str, Product] = field(default_factory=dict)
    weight: float = 1.0
    category: str = ""


_order_numbers = itertools.count(1)


class Sim:
    def __init__(self, cfg: Config, *, log: Callable[[str], None] = print):
        self.cfg = cfg
        self.log = log
        self.heap: list = []
        self.seq = itertools.count()
        self.minute = -cfg.warmup_days * DAY  # the period starts at minute 0; the warm-up runs before it
        self.end = (cfg.days - 1) * DAY + CLOSE
        self.attempts: list[Attempt] = []
        self.ips = IpPool()
        self.phones = itertools.count(1)
        self.phone_numbers = itertools.count(1)
        self.rate_prefix = f"rl:corpus:{uuid.uuid4().hex[:8]}:"
        self.specs: dict[int, object] = {}
        self.detector_runs = 0
        self.requests = 0
        self.shifts = 0
        self.actors: dict[str, list[int]] = defaultdict(list)  # kind → user ids (for the report)
        self.honest_ids: set[int] = set()
        self.accounts: dict[int, str] = {}  # user id → the actor it belongs to (for reading findings)
        # Merchants that attack (brushing, colluding): the issuer legs they would receive on honest shoppers'
        # orders are neither honest value nor abuse by the shopper; they are reported apart (Attempt.other).
        self.attacker_merchants: set[int] = set()

    # --- scheduling and time ---

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.cfg.seed}:{name}")

    def at(self, minute: int, fn: Callable[[], None], *, first: bool = False) -> bool:
        minute = max(-(-minute // TICK) * TICK, self.minute)
        if minute > self.end:
            return False
        heapq.heappush(self.heap, (minute, 0 if first else 1, next(self.seq), fn))
        return True

    def advance(self, minute: int) -> None:
        if minute <= self.minute:
            return
        shift_stored_times(timedelta(minutes=minute - self.minute))
        self.shifts += 1
        if minute // 60 != self.minute // 60:  # the rate limits' fixed windows roll over
            settings.RATELIMIT_CACHE_PREFIX = f"{self.rate_prefix}{minute // 60}:"
        self.minute = minute

    def run(self) -> None:
        next_detect = self.minute + self.cfg.detect_every
        started = time.monotonic()
        last_day = None
        while self.heap:
            minute, _first, _seq, fn = heapq.heappop(self.heap)
            while next_detect <= minute:
                self.advance(next_detect)
                self.detect()
                next_detect += self.cfg.detect_every
            self.advance(minute)
            if day_of(minute) != last_day:
                last_day = day_of(minute)
                which = f"day {last_day + 1}/{self.cfg.days}" if last_day >= 0 else f"warm-up day {last_day}"
                self.log(f"{which} ({time.monotonic() - started:.0f} s)")
            fn()
        self.advance(max(self.minute, self.end) + self.cfg.detect_every)
        self.detect()

    def detect(self) -> None:
        counts = detectors.detect_all()
        if any(n < 0 for n in counts.values()):
            raise RuntimeError(f"a detector failed: {counts}")
        self.detector_runs += 1

    def clock(self, minute: int | None = None) -> str:
        minute = self.minute if minute is None else minute
        return f"day {day_of(minute) + 1} {minute % DAY // 60:02d}:{minute % 60:02d}"

    # --- value ---

    def would_pay(
        self, campaign: Campaign, cart, packet_amount: Decimal, issuer_user_id: int | None = None, *, honest=False
    ) -> Decimal:
        """What the campaign's rule pays on this spend (on an honest order, without a leg to an attacking merchant)."""
        spec = self.specs.get(campaign.pk)
        if spec is None:
            spec = self.specs[campaign.pk] = rebate_spec(campaign_with_rules(campaign.pk))
        snapshot = spec.to_snapshot(
            issuer_merchant_id=None if issuer_user_id else campaign.merchant_id, issuer_user_id=issuer_user_id
        )
        lines = [CartLine("goods", qty, PRICES[sku]) for sku, qty in cart]
        discount = min(packet_amount, cart_total(cart))
        legs = rebate_legs(snapshot, lines=lines, discount=discount, at=timezone.now())
        if honest and campaign.merchant_id in self.attacker_merchants:
            legs = [leg for leg in legs if leg.role != "issuer"]  # that leg would go to an attacking merchant
        return sum((leg.amount for leg in legs), D("0.00"))

    def attempt(self, kind: str, sub: str, actor: str, packet: str, value: Decimal) -> Attempt:
        att = Attempt(len(self.attempts) + 1, kind, sub, actor, packet, value)
        self.attempts.append(att)
        return att

    # --- the worker ---

    def credit(self, redemption_id: int) -> None:
        rebates_credit_for_redemption(redemption_id=redemption_id)

    # --- pages ---

    def page_signup(self, phone: Phone, number: str, invite_code: str = "") -> tuple[User | None, int]:
        phone.sign_out()
        self.requests += 1
        body = {"account": number, "password1": PASSWORD, "password2": PASSWORD, "invite_code": invite_code, "ch": ""}
        response = phone.post("/accounts/signup/", body)
        if response.status_code != 302:
            return None, response.status_code
        user = User.objects.get(phone=number)
        phone.user = user
        return user, 302

    def page_claim(self, phone: Phone, user: User, code: str) -> Result:
        phone.use(user)
        Refusals.reset()
        self.requests += 1
        response = phone.post(f"/claim/{code}/")
        if response.status_code == 302:
            return Result(True)
        return Result(False, Refusals.code or f"http_{response.status_code}", Refusals.details)

    def page_order(self, phone: Phone, user: User, shop: Shop, cart, packet_code: str, gaps_for) -> Result:
        """Browse the store, add the cart's items, open the checkout, pay — the steps `gaps_for(steps)` seconds
        apart."""
        phone.use(user)
        since = TrailEvent.objects.aggregate(m=Max("pk"))["m"] or 0
        browses = gaps_for.browses
        for _ in range(browses):
            phone.get(f"/store/?category={shop.category}")  # the shop's aisle: a few products, not the whole store
        for sku, qty in cart:
            response = phone.post("/store/cart/add/", {"product": shop.products[sku].pk, "quantity": qty})
            if response.status_code != 302:
                raise RuntimeError(f"cart add refused: {response.status_code}")
        page = phone.get("/store/checkout/")
        self.requests += browses + len(cart) + 2
        token = re.search(r'name="token" value="([^"]+)"', page.content.decode())
        if page.status_code != 200 or token is None:
            raise RuntimeError(f"no checkout page: {page.status_code}")
        restamp_trail(phone.trail_key(), since, gaps_for(browses + len(cart) + 1))
        Refusals.reset()
        response = phone.post("/store/checkout/", {"token": token.group(1), "packet": packet_code, "points": ""})
        found = re.match(r"^/orders/(\d+)/$", response.get("Location", "")) if response.status_code == 302 else None
        if found is None:
            for sku, _qty in cart:  # empty the cart, as the shopper would, before anything else
                phone.post("/store/cart/update/", {"product": shop.products[sku].pk, "quantity": 0})
            return Result(False, Refusals.code or f"http_{response.status_code}", Refusals.details)
        return self._order_result(int(found.group(1)))

    def api_order(
        self, shop: Shop, user: User, cart, packet_code: str, *, ip: str, device_id: str, steps: list[str], gaps
    ) -> Result:
        """The merchant's server reports the shopper's steps as they happen, then the paid order."""
        session_id = ""
        if steps:
            # The shop's server reports the session's steps (one report per visit here; their times are set right
            # below, as if each had been reported when it happened).
            session_id = f"s{uuid.uuid4().hex[:20]}"
            since = TrailEvent.objects.aggregate(m=Max("pk"))["m"] or 0
            events = [
                {"event_id": f"e{uuid.uuid4().hex[:20]}", "kind": kind, "sku": f"{shop.code}-{cart[0][0]}"}
                for kind in steps
            ]
            body = {"session_id": session_id, "shopper_id": user.pk, "events": events}
            response = shop.api.post("/api/v1/trail/events/", body, format="json")
            if response.status_code != 200:
                raise RuntimeError(f"trail refused: {response.content!r}")
            self.requests += 1
            restamp_trail(f"m{shop.merchant.pk}:{session_id}", since, gaps)
        body = {
            "order_no": f"{shop.code}-{next(_order_numbers)}",
            "shopper_id": user.pk,
            "gross_amount": str(cart_total(cart)),
            "lines": [
                {"sku": f"{shop.code}-{sku}", "name": NAMES[sku], "category": shop.category, "quantity": qty,
                 "unit_price": str(PRICES[sku])}
                for sku, qty in cart
            ],
            "ip": ip,
            "device_id": device_id,
        }  # fmt: skip
        if packet_code:
            body["packet_code"] = packet_code
        if session_id:
            body["session_id"] = session_id
        self.requests += 1
        response = shop.api.post("/api/v1/orders/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
        if response.status_code != 201:
            data = response.json()
            return Result(False, data.get("code", f"http_{response.status_code}"), data.get("details") or {})
        return self._order_result(response.json()["id"])

    def _order_result(self, order_id: int) -> Result:
        redemption = Redemption.objects.filter(order_id=order_id).values_list("pk", flat=True).first()
        if redemption:
            self.credit(redemption)
        earned = list(Packet.objects.filter(source_order_id=order_id).order_by("pk").values_list("code", flat=True))
        return Result(True, order_id=order_id, redemption_id=redemption, earned=earned)


class Gaps:
    """How one visit's steps are timed: `browses` store views, then `gaps(steps)` seconds between steps."""

    def __init__(self, browses: int, fn: Callable[[int], list[int]]):
        self.browses = browses
        self.fn = fn

    def __call__(self, steps: int) -> list[int]:
        return self.fn(steps)


def human(rng: random.Random) -> Gaps:
    return Gaps(rng.choice((1, 1, 2, 2, 3)), lambda steps: human_gaps(rng, steps))


def human_api_steps(rng: random.Random, cart) -> list[str]:
    steps = ["browse"] * rng.choice((1, 1, 2, 3)) + ["compare_price"] * rng.choice((0, 0, 1, 2))
    return [*steps, *["add_to_cart"] * len(cart), "checkout"]


# --- actors --------------------------------------------------------------------------------------------------------


class Actor:
    """Someone with accounts, phones and a plan. `retries`: whether refusals are waited out (attackers do)."""

    retries = False

    def __init__(self, sim: Sim, kind: str, name: str, sub: str = ""):
        self.sim, self.kind, self.name, self.sub = sim, kind, name, sub
        self.rng = sim.rng(name)

    def new_number(self) -> str:
        return f"13{next(self.sim.phone_numbers):09d}"

    def new_phone(self, ip: str) -> Phone:
        return Phone(ip, f"ph-{next(self.sim.phones):05d}")

    def aged_account(self, phone: Phone, age_days: float, *, kind: str | None = None) -> User:
        """An account opened long ago on this phone (created before the campaigns start, then aged): `age_days` old
        when the measured period starts (the warm-up's clock shifts age it the rest of the way)."""
        settings.RATELIMIT_CACHE_PREFIX = f"{self.sim.rate_prefix}setup:{uuid.uuid4().hex[:8]}:"
        user, status = self.sim.page_signup(phone, self.new_number())
        if user is None:
            raise RuntimeError(f"setup sign-up refused: {status}")
        joined = timezone.now() - timedelta(days=age_days - self.sim.cfg.warmup_days)
        User.objects.filter(pk=user.pk).update(date_joined=joined)
        self.register(user, kind)
        return user

    def register(self, user: User, kind: str | None = None) -> None:
        kind = kind or self.kind
        self.sim.accounts[user.pk] = self.name
        if kind == "honest":
            self.sim.honest_ids.add(user.pk)
        else:
            self.sim.actors[kind].append(user.pk)

    # --- spending a packet the actor holds, with retries for attackers ---

    def spend(
        self,
        att: Attempt,
        minute: int,
        order: Callable[[], Result],
        after: Callable[[Result], None] | None = None,
        tries: int = 0,
    ) -> None:
        """At `minute`, place the order that spends the attempt's packet; attackers wait out refusals that say when
        to come back. `after(result)` runs once the attempt is settled (spent, or finally refused)."""

        def go():
            result = order()
            if result.ok:
                att.outcome, att.redemption_id = "redeemed", result.redemption_id
            else:
                retry = self.retry_minute(result) if self.retries and tries < 12 else None
                if retry is not None:
                    self.spend(att, retry, order, after, tries + 1)
                    return
                att.outcome, att.reason = BLOCKED, result.code
            if after is not None:
                after(result)

        if not self.sim.at(minute, go):
            att.outcome, att.reason = DEFERRED, att.reason or "after the period"

    def retry_minute(self, result: Result) -> int | None:
        code = result.code
        if code.endswith("_too_soon"):
            wait = int(result.details.get("retry_after_seconds", 600))
            return self.sim.minute + max(TICK, -(-wait // 60))
        if code.endswith("_daily_limit"):
            return active((day_of(self.sim.minute) + 1) * DAY + OPEN + self.rng.randrange(0, 90, TICK))
        if code in ("rate_limited", "http_429"):
            return self.sim.minute + 60
        return None

    def plan_spend(
        self,
        *,
        minute: int,
        packet: str,
        campaign: Campaign,
        amount: Decimal,
        cart,
        issuer_user_id: int | None = None,
        sub: str | None = None,
        deferred: bool = False,
    ) -> Attempt | None:
        """An attempt to spend a packet at `minute`; for an honest shopper None when that falls after the simulated
        period (not an attempt at all). An attacker's attempt is settled by what happens (spent, refused, or
        deferred when its retry or its turn falls after the period); `minute` only says when it is meant to be."""
        if minute > self.sim.end and self.kind == "honest":
            return None
        value = self.sim.would_pay(campaign, cart, amount, issuer_user_id, honest=self.kind == "honest")
        att = self.sim.attempt(self.kind, sub if sub is not None else self.sub, self.name, packet, value)
        if deferred:
            att.outcome, att.reason = DEFERRED, "the account would be opened after the period"
        return att


def packet_of(user: User, channel: str, *, exclude: tuple[str, ...] = ()) -> Packet | None:
    return (
        Packet.objects.filter(holder=user, channel=channel, status=Packet.Status.ISSUED)
        .exclude(code__in=exclude)
        .order_by("pk")
        .first()
    )


class World:
    """Merchants, their shops and campaigns, the platform campaign, the leaflet batch."""

    def __init__(self, sim: Sim):
        self.sim = sim
        self.shops: list[Shop] = []
        self.platform: Campaign | None = None
        self.leaflet: Campaign | None = None
        self.leaflet_shop: Shop | None = None  # its codes are accepted only there (a merchant campaign's packets)
        self.leaflet_codes: list[str] = []
        self.amounts: dict[str, Decimal] = {}

    def merchant(self, name: str, code: str, channel: str, weight: float) -> Shop:
        merchant = Merchant.objects.create(name=f"{name} {self.sim.cfg.seed}-{uuid.uuid4().hex[:4]}", is_verified=True)
        shop = Shop(merchant=merchant, campaign=None, channel=channel, code=code, weight=weight)
        shop.category = f"c{code.lower()}"  # each shop its own aisle in the store
        if channel == "store":
            for sku, pname, price in CATALOGUE:
                shop.products[sku] = Product.objects.create(
                    merchant=merchant, sku=f"{code}-{sku}", name=pname, category=shop.category, price=price
                )
        else:
            server = User.objects.create(username=f"server-{code}-{uuid.uuid4().hex[:6]}")
            MerchantStaff.objects.create(merchant=merchant, user=server, role=MerchantStaff.Role.ADMIN)
            shop.api = APIClient()
            shop.api.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=server).key}")
        self.shops.append(shop)
        return shop

    def campaigns(self) -> None:
        """The campaigns start now (after the population's existing accounts were opened)."""
        now = timezone.now()
        window = {"starts_at": now - timedelta(days=10), "ends_at": now + timedelta(days=60)}
        for shop in self.shops:
            shop.campaign = self._campaign(
                merchant=shop.merchant,
                name=f"满200送红包 {shop.code}",
                rules=[("purchase", D("200.00"), D("10.00"), D("50.00"))],
                rebate={"issuer_rate": D("10.00"), "holder_rate": D("5.00")},
                window=window,
            )
        self.platform = self._campaign(
            merchant=None,
            name="新人红包 · 邀请有礼",
            rules=[
                ("registration", D("0.00"), D("10.00"), D("50.00")),
                ("referral", D("0.00"), D("10.00"), D("50.00")),
                ("share", D("0.00"), D("5.00"), D("30.00")),
            ],
            rebate={"issuer_rate": D("5.00"), "holder_rate": D("5.00")},
            window=window,
            participants=Campaign.Participants.PLATFORM_USER,
        )
        self.leaflet_shop = self.shops[0]
        self.leaflet = self._campaign(
            merchant=self.leaflet_shop.merchant,
            name="扫码领红包",
            rules=[("manual", D("0.00"), D("10.00"), D("50.00"))],
            rebate={"issuer_rate": D("10.00"), "holder_rate": D("5.00")},
            window=window,
            per_user_limit=1,
        )
        cfg = self.sim.cfg
        count = cfg.honest + cfg.farms * cfg.farm_accounts + 20
        batch = packets_batch.packets_generate(campaign=self.leaflet, count=count)
        self.leaflet_codes = list(Packet.objects.filter(batch=batch).order_by("pk").values_list("code", flat=True))
        self.amounts = {"registration": D("10.00"), "referral": D("10.00"), "share": D("5.00"), "leaflet": D("10.00")}
        self.amounts["merchant"] = D("10.00")

    def _campaign(self, *, merchant, name, rules, rebate, window, participants=None, per_user_limit=0) -> Campaign:
        campaign = Campaign.objects.create(
            merchant=merchant,
            name=name,
            status=Campaign.Status.ACTIVE,
            hold_days=HOLD_DAYS,
            per_user_limit=per_user_limit,
            participants=participants or Campaign.Participants.MERCHANT_CONSUMER,
            **window,
        )
        for trigger, threshold, amount, min_spend in rules:
            EarnRule.objects.create(
                campaign=campaign,
                trigger=trigger,
                threshold_amount=threshold,
                packet_amount=amount,
                min_spend=min_spend,
                valid_days=30,
            )
        RebateRule.objects.create(campaign=campaign, **rebate)
        RiskPolicy.objects.create(campaign=campaign, trail_required=True)  # limits and scores: the defaults
        budget = D("1000000.00")
        key = f"corpus:{campaign.pk}:{uuid.uuid4().hex[:8]}"
        if merchant is None:
            platform_pool_fund(amount=budget, idempotency_key=f"{key}:pool")
        else:
            merchant_deposit(merchant=merchant, amount=budget, idempotency_key=f"{key}:deposit")
        campaign_fund(campaign=campaign, amount=budget, idempotency_key=f"{key}:fund")
        return campaign

    def pick_shop(self, rng: random.Random, *, channel: str | None = None) -> Shop:
        shops = [s for s in self.shops if s.weight > 0 and (channel is None or s.channel == channel)]
        return rng.choices(shops, weights=[s.weight for s in shops])[0]

    def take_code(self) -> str:
        return self.leaflet_codes.pop()


# --- honest shoppers -----------------------------------------------------------------------------------------------


class Person(Actor):
    """An honest shopper: an account (existing, of some age, or opened during the period), a phone (shared with a
    family member in a family), a home IP, and an office or campus IP during the day for some."""

    def __init__(self, sim, world, name, group, phone, home_ip, shared_ip=None):
        super().__init__(sim, "honest", name, group)
        self.world, self.group, self.phone, self.home_ip, self.shared_ip = world, group, phone, home_ip, shared_ip
        self.user: User | None = None
        self.aged = self.rng.random() < 0.7
        self.inviter: Person | None = None
        self.shares_used: set[str] = set()

    def ip_at(self, minute: int) -> str:
        if self.group == "campus":
            return self.shared_ip
        if self.group == "office" and 9 * 60 <= minute % DAY < 17 * 60:
            return self.shared_ip
        return self.home_ip

    def setup(self) -> None:
        if self.aged:
            self.phone.ip = self.ip_at(12 * 60)
            self.age_days = math.exp(self.rng.uniform(math.log(2), math.log(900)))
            self.user = self.aged_account(self.phone, self.age_days)

    def plan(self) -> None:
        start = 0
        if not self.aged:
            start = random_minute(self.rng, self.sim.cfg.days)
            self.sim.at(start, self.join)
        for _ in range(self.rng.choices(JOURNEYS, weights=JOURNEY_WEIGHTS)[0]):
            self.plan_journey(random_minute(self.rng, self.sim.cfg.days, after=start + TICK))
        if self.rng.random() < 0.25:
            self.plan_claim(random_minute(self.rng, self.sim.cfg.days, after=start + TICK))

    def plan_warmup(self) -> None:
        """Before the period, not measured: an established shopper's ordinary journeys at the period's pace, from
        the day the account was opened — the history the detectors' window holds on a platform that has been
        running (an IP's regulars, a shop's usual customers). Its own random stream: the period's plan is the same
        with or without a warm-up."""
        if not self.aged:
            return
        rng = self.sim.rng(f"{self.name}:warm-up")
        pace = sum(n * w for n, w in zip(JOURNEYS, JOURNEY_WEIGHTS, strict=True)) / sum(JOURNEY_WEIGHTS)
        opened = -self.age_days * DAY
        for day in range(-self.sim.cfg.warmup_days, 0):
            minute = day * DAY + rng.randrange(OPEN, CLOSE - 60, TICK)
            if minute >= opened and rng.random() < pace / self.sim.cfg.days:
                self.sim.at(minute, lambda: self.warmup_journey(rng))

    def warmup_journey(self, rng: random.Random) -> None:
        shop = self.world.pick_shop(rng)
        result = self.visit(shop, rng.choice(EARN_CARTS), "", rng)
        if result.ok and result.earned:
            code, cart = result.earned[0], rng.choice(SPEND_CARTS)
            self.sim.at(
                active(self.sim.minute + rng.randrange(60, 30 * 60, TICK)), lambda: self.visit(shop, cart, code, rng)
            )

    def later(self, minute: int) -> int:
        return active(minute + self.rng.randrange(60, 30 * 60, TICK))

    def visit(self, shop: Shop, cart, packet_code: str, rng: random.Random | None = None) -> Result:
        minute, rng = self.sim.minute, rng or self.rng
        if shop.channel == "store":
            self.phone.ip = self.ip_at(minute)
            return self.sim.page_order(self.phone, self.user, shop, cart, packet_code, human(rng))
        steps = human_api_steps(rng, cart)
        return self.sim.api_order(
            shop,
            self.user,
            cart,
            packet_code,
            ip=self.ip_at(minute),
            device_id=self.phone.label,
            steps=steps,
            gaps=human_gaps(rng, len(steps)),
        )

    def join(self) -> None:
        self.phone.ip = self.ip_at(self.sim.minute)
        code = self.inviter.user.invite_code if self.inviter and self.inviter.user else ""
        user, _status = self.sim.page_signup(self.phone, self.new_number(), code)
        if user is None:
            return
        self.user = user
        self.register(user)
        self.spend_own(user, "registration", "newbie")
        if code:
            self.spend_own(user, "referral", "referral", issuer=self.inviter.user)
            self.inviter.spend_share()

    def spend_own(self, user: User, channel: str, packet_kind: str, issuer: User | None = None) -> None:
        cart = self.rng.choice(SPEND_CARTS)
        shop = self.world.pick_shop(self.rng)
        minute = self.later(self.sim.minute)
        att = self.plan_spend(
            minute=minute,
            packet=packet_kind,
            campaign=self.world.platform,
            amount=self.world.amounts[channel],
            cart=cart,
            issuer_user_id=issuer.pk if issuer else None,
        )
        if att is None:
            return
        packet = packet_of(user, channel)
        if packet is None:
            att.outcome, att.reason = BLOCKED, "not_issued"
            return
        self.spend(att, minute, lambda: self.visit(shop, cart, packet.code))

    def spend_share(self) -> None:
        """An invitee joined through my link: I received a share packet (if the limits allowed it) and spend it."""
        user = self.user
        cart = self.rng.choice(SPEND_CARTS)
        shop = self.world.pick_shop(self.rng)
        minute = self.later(self.sim.minute)
        att = self.plan_spend(
            minute=minute, packet="share", campaign=self.world.platform, amount=self.world.amounts["share"], cart=cart
        )
        if att is None:
            return
        packet = packet_of(user, "share", exclude=tuple(self.shares_used))
        if packet is None:
            att.outcome, att.reason = BLOCKED, "not_issued"
            return
        self.shares_used.add(packet.code)
        self.spend(att, minute, lambda: self.visit(shop, cart, packet.code))

    def plan_journey(self, minute: int) -> None:
        shop = self.world.pick_shop(self.rng)
        earn_cart, spend_cart = self.rng.choice(EARN_CARTS), self.rng.choice(SPEND_CARTS)
        spend_at = self.later(minute)

        def earn():
            if self.user is None:
                return
            att = self.plan_spend(
                minute=spend_at, packet="merchant", campaign=shop.campaign, amount=D("10.00"), cart=spend_cart
            )
            result = self.visit(shop, earn_cart, "")
            if att is None:
                return
            if not result.ok or not result.earned:
                att.outcome, att.reason = BLOCKED, result.code or "not_issued"
                return
            code = result.earned[0]
            self.spend(att, spend_at, lambda: self.visit(shop, spend_cart, code))

        self.sim.at(minute, earn)

    def plan_claim(self, minute: int) -> None:
        code = self.world.take_code()
        cart = self.rng.choice(SPEND_CARTS)
        shop = self.world.leaflet_shop
        spend_at = self.later(minute)

        def claim():
            if self.user is None:
                return
            att = self.plan_spend(
                minute=spend_at, packet="leaflet", campaign=self.world.leaflet, amount=D("10.00"), cart=cart
            )
            self.phone.ip = self.ip_at(self.sim.minute)
            result = self.sim.page_claim(self.phone, self.user, code)
            if att is None:
                return
            if not result.ok:
                att.outcome, att.reason = BLOCKED, result.code
                return
            self.spend(att, spend_at, lambda: self.visit(shop, cart, code))

        self.sim.at(minute, claim)


def honest_population(sim: Sim, world: World) -> list[Person]:
    rng = sim.rng("population")
    n = sim.cfg.honest
    campus_n, office_n, family_n = round(0.06 * n), round(0.14 * n), 2 * round(0.05 * n)
    people: list[Person] = []

    def groups(total: int, lo: int, hi: int) -> list[int]:
        sizes = []
        while total > 0:
            size = min(total, rng.randint(lo, hi))
            if 0 < total - size < 2 and sizes:
                size = total
            sizes.append(size)
            total -= size
        return sizes

    for g, size in enumerate(groups(campus_n, 8, 15)):
        ip = sim.ips.take("172.20")
        for i in range(size):
            people.append(Person(sim, world, f"campus{g}-{i}", "campus", None, sim.ips.take("10.1"), ip))
    for g, size in enumerate(groups(office_n, 3, 6)):
        ip = sim.ips.take("172.16")
        for i in range(size):
            people.append(Person(sim, world, f"office{g}-{i}", "office", None, sim.ips.take("10.2"), ip))
    for f in range(family_n // 2):
        home = sim.ips.take("10.3")
        shared = Phone(home, f"ph-{next(sim.phones):05d}")
        for i in range(2):
            person = Person(sim, world, f"family{f}-{i}", "family", shared, home)
            people.append(person)
    while len(people) < n:
        people.append(Person(sim, world, f"solo{len(people)}", "solo", None, sim.ips.take("10.4")))
    for person in people:
        if person.phone is None:
            person.phone = Phone(person.home_ip, f"ph-{next(sim.phones):05d}")
    aged = [p for p in people if p.aged]
    for person in people:
        if not person.aged and aged and rng.random() < 0.4:
            person.inviter = rng.choice(aged)
    return people


# --- attackers -----------------------------------------------------------------------------------------------------


class Attacker(Actor):
    retries = True

    def pages_visit(self, phone: Phone, user: User, shop: Shop, cart, code: str, gaps: Gaps | None = None) -> Result:
        return self.sim.page_order(phone, user, shop, cart, code, gaps or human(self.rng))

    def signups(
        self, phone_for: Callable[[], Phone], count: int, start: int, on_account: Callable[[User], None], invite=""
    ) -> None:
        """Open `count` accounts, each on the phone `phone_for()` gives, one every 20–40 minutes; stop for the day
        when a sign-up brought fewer packets than it should (a daily limit) and go on the next morning."""
        state = {"left": count}
        expected = 2 if invite else 1

        def one():
            if state["left"] <= 0:
                return
            user, status = self.sim.page_signup(phone_for(), self.new_number(), invite)
            if user is None:
                self.sim.at(self.sim.minute + 60 if status == 429 else self.sim.minute + TICK, one)
                return
            state["left"] -= 1
            self.register(user)
            on_account(user)
            got = Packet.objects.filter(holder=user).count()
            if got < expected:
                nxt = active((day_of(self.sim.minute) + 1) * DAY + OPEN + self.rng.randrange(0, 120, TICK))
            else:
                nxt = active(self.sim.minute + self.rng.randrange(20, 41, TICK))
            if not self.sim.at(nxt, one):
                self.deferred_signups(state["left"])

        self.sim.at(start, one)

    def deferred_signups(self, left: int) -> None:
        """Accounts the attacker would still have opened after the period: their packets are deferred attempts."""


class PacketFarm(Attacker):
    """One IP, many accounts: each signs up (newbie packet), claims a leaflet code, spends both. `one_phone`: all on
    one phone; `fresh_devices`: the browser's data is wiped before each sign-up (a new device cookie every account),
    so only the connection links them."""

    def __init__(self, sim, world, index, mode):
        super().__init__(sim, "packet_farm", f"farm-{mode}{index}", mode)
        self.world, self.mode, self.ip = world, mode, sim.ips.take("100.64")
        self.phone = self.new_phone(self.ip)
        self.phones: dict[int, Phone] = {}  # account → the phone (device) it was opened on

    def next_phone(self) -> Phone:
        if self.mode == "fresh_devices":
            self.phone = self.new_phone(self.ip)
        return self.phone

    def plan(self) -> None:
        start = random_minute(self.rng, 1, hi=10 * 60)
        self.signups(self.next_phone, self.sim.cfg.farm_accounts, start, self.account)

    def deferred_signups(self, left: int) -> None:
        for _ in range(left):
            for packet, campaign in (("newbie", self.world.platform), ("leaflet", self.world.leaflet)):
                self.plan_spend(
                    minute=self.sim.end + 1,
                    packet=packet,
                    campaign=campaign,
                    amount=D("10.00"),
                    cart=CHEAPEST,
                    deferred=True,
                )

    def account(self, user: User) -> None:
        phone = self.phones[user.pk] = self.phone
        shop_a, shop_b = self.world.pick_shop(self.rng, channel="store"), self.world.leaflet_shop
        spend_at = active(self.sim.minute + self.rng.randrange(20, 180, TICK))
        att = self.plan_spend(
            minute=spend_at, packet="newbie", campaign=self.world.platform, amount=D("10.00"), cart=CHEAPEST
        )
        packet = packet_of(user, "registration")
        if packet is None:
            att.outcome, att.reason = BLOCKED, "not_issued"
        elif att.outcome == PLANNED:
            self.spend(att, spend_at, lambda: self.pages_visit(phone, user, shop_a, CHEAPEST, packet.code))
        code = self.world.take_code()
        claim_at = active(self.sim.minute + self.rng.randrange(10, 40, TICK))
        claim_spend_at = active(claim_at + self.rng.randrange(20, 180, TICK))
        claim_att = self.plan_spend(
            minute=claim_spend_at, packet="leaflet", campaign=self.world.leaflet, amount=D("10.00"), cart=CHEAPEST
        )
        self.claim(user, code, claim_at, claim_att, shop_b, 0)

    def claim(self, user, code, minute, att, shop, tries) -> None:
        phone = self.phones[user.pk]

        def go():
            result = self.sim.page_claim(phone, user, code)
            if result.ok:
                spend_at = active(self.sim.minute + self.rng.randrange(20, 180, TICK))
                self.spend(att, spend_at, lambda: self.pages_visit(phone, user, shop, CHEAPEST, code))
                return
            retry = self.retry_minute(result) if tries < 12 else None
            if retry is None:
                att.outcome, att.reason = BLOCKED, result.code
            else:
                self.claim(user, code, retry, att, shop, tries + 1)

        if not self.sim.at(minute, go):
            att.outcome = DEFERRED


class FakeOrders(Attacker):
    """Bought, aged accounts placing orders nobody shopped for, each on a fresh device and IP, in a chain: a ≥ 200
    order earns a packet, spent hours later on the next ≥ 200 order (which earns the next), twice.
    no_trail: a merchant's server records them without any trail; too_fast: a bot clicks through the store pages in
    a few seconds; scripted: a bot clicks through with the same fixed waits for every account."""

    SCRIPT = (8, 11, 14)

    def __init__(self, sim, world, mode, index, shop):
        super().__init__(sim, "fake_orders", f"fake-{mode}{index}", mode)
        self.world, self.mode, self.shop = world, mode, shop
        self.phone = self.new_phone(sim.ips.take("198.18"))

    def setup(self) -> None:
        self.user = self.aged_account(self.phone, self.rng.uniform(30, 400))

    def gaps(self) -> Gaps:
        if self.mode == "scripted":
            return Gaps(1, lambda steps: list(self.SCRIPT[:steps]))
        return Gaps(1, lambda steps: [self.rng.randint(1, 6) for _ in range(steps)])

    def order(self, code: str) -> Result:
        if self.mode == "no_trail":
            return self.sim.api_order(
                self.shop, self.user, CHAIN, code, ip=self.phone.ip, device_id=self.phone.label, steps=[], gaps=[]
            )
        return self.pages_visit(self.phone, self.user, self.shop, CHAIN, code, self.gaps())

    def plan(self) -> None:
        start = random_minute(self.rng, max(1, self.sim.cfg.days - 1), hi=13 * 60)
        waits = [self.rng.randrange(180, 300, TICK) for _ in range(2)]
        atts, minute = [], start
        for wait in waits:
            minute = active(minute + wait)
            atts.append(
                self.plan_spend(
                    minute=minute, packet="merchant", campaign=self.shop.campaign, amount=D("10.00"), cart=CHAIN
                )
            )
        chain(self, atts, waits, start, lambda cart, code: self.order(code))


class Collusion(Attacker):
    """A merchant's staff member and a few shoppers who share the staff member's phone or home Wi-Fi make most of
    the merchant's rebate-earning orders: each shopper earns a packet with a ≥ 200 order and spends it on the next
    ≥ 200 order (earning the next), three times. They are people: human trails."""

    def __init__(self, sim, world, shop, index):
        super().__init__(sim, "collusion", f"collusion{index}", shop.channel)
        self.world, self.shop = world, shop
        self.home = sim.ips.take("10.9")
        self.staff_phone = self.new_phone(self.home)
        self.members: list[tuple[User, Phone, str]] = []  # (account, phone used, device id reported)

    def setup(self) -> None:
        self.staff = self.aged_account(self.staff_phone, self.rng.uniform(60, 700))
        MerchantStaff.objects.create(merchant=self.shop.merchant, user=self.staff, role=MerchantStaff.Role.ADMIN)
        for j in range(self.sim.cfg.colluders):
            if j % 2 == 0:  # uses the staff member's phone
                user = self.aged_account(self.staff_phone, self.rng.uniform(20, 500))
                self.members.append((user, self.staff_phone, self.staff_phone.label))
            else:  # own phone, on the staff member's home Wi-Fi
                phone = self.new_phone(self.home)
                user = self.aged_account(phone, self.rng.uniform(20, 500))
                self.members.append((user, phone, phone.label))

    def order(self, user: User, phone: Phone, device_id: str, cart, code: str) -> Result:
        if self.shop.channel == "store":
            return self.pages_visit(phone, user, self.shop, cart, code)
        steps = human_api_steps(self.rng, cart)
        return self.sim.api_order(
            self.shop,
            user,
            cart,
            code,
            ip=self.home,
            device_id=device_id,
            steps=steps,
            gaps=human_gaps(self.rng, len(steps)),
        )

    def plan(self) -> None:
        # The staff member shops at the own shop now and then, from home, on the phone.
        self.sim.at(
            random_minute(self.rng, 1, hi=9 * 60),
            lambda: self.order(self.staff, self.staff_phone, self.staff_phone.label, EARN_CARTS[0], ""),
            first=True,
        )
        for k, (user, phone, device_id) in enumerate(self.members):
            start = random_minute(self.rng, max(1, self.sim.cfg.days - 1), lo=9 * 60 + 20 * k)
            self.chain(user, phone, device_id, start)

    def chain(self, user, phone, device_id, start) -> None:
        waits = [self.rng.randrange(120, 360, TICK) for _ in range(3)]
        atts, minute = [], start
        for wait in waits:
            minute = active(minute + wait)
            atts.append(
                self.plan_spend(
                    minute=minute, packet="merchant", campaign=self.shop.campaign, amount=D("10.00"), cart=CHAIN
                )
            )
        chain(self, atts, waits, start, lambda cart, code: self.order(user, phone, device_id, cart, code))


def chain(actor: Attacker, atts: list[Attempt], waits: list[int], start: int, order) -> None:
    """Orders in a chain at one shop: a ≥ 200 order earns a packet; `waits[i]` minutes later the next ≥ 200 order
    spends it (attempt i) and earns the next. A packet whose spend was refused is still held and is tried again on
    the next link; when an order earned nothing (a limit), the attacker places plain ≥ 200 orders again, 20–60
    minutes apart, until one earns a packet (or the period ends: the rest is deferred)."""

    def earn(i: int) -> None:
        if i >= len(atts) or atts[i].outcome != PLANNED:
            return
        result = order(EARN_CARTS[0], "")
        if result.ok and result.earned:
            spend(i, result.earned[0])
        elif not actor.sim.at(active(actor.sim.minute + actor.rng.randrange(20, 61, TICK)), lambda: earn(i)):
            for att in atts[i:]:
                if att.outcome == PLANNED:
                    att.outcome, att.reason = DEFERRED, "no packet issued before the period ended"

    def spend(i: int, code: str) -> None:
        def after(result: Result) -> None:
            if i + 1 >= len(atts):
                return
            if not result.ok:
                spend(i + 1, code)  # the refused packet is still ours
            elif result.earned:
                spend(i + 1, result.earned[0])
            elif not actor.sim.at(actor.sim.minute + TICK, lambda: earn(i + 1)):
                atts[i + 1].outcome = DEFERRED

        actor.spend(atts[i], active(actor.sim.minute + waits[i]), lambda: order(CHAIN, code), after)

    if not actor.sim.at(start, lambda: earn(0)):
        for att in atts:
            att.outcome = DEFERRED


class ReferralFarm(Attacker):
    """One inviter; many invitees signed up through the inviter's link on one phone from one IP. Each invitee spends
    the newbie and the referral packet (the inviter earns the referral packet's issuer leg); the inviter spends the
    share packets."""

    def __init__(self, sim, world, index):
        super().__init__(sim, "referral_farm", f"reffarm{index}")
        self.world = world
        self.farm_phone = self.new_phone(sim.ips.take("100.65"))
        self.own_phone = self.new_phone(sim.ips.take("10.8"))
        self.shares_used: set[str] = set()

    def setup(self) -> None:
        self.inviter = self.aged_account(self.own_phone, self.rng.uniform(30, 600))

    def plan(self) -> None:
        start = random_minute(self.rng, 1, hi=10 * 60)
        self.signups(
            lambda: self.farm_phone, self.sim.cfg.farm_invitees, start, self.account, invite=self.inviter.invite_code
        )

    def deferred_signups(self, left: int) -> None:
        for _ in range(left):
            for packet, amount, issuer in (("newbie", "10.00", None), ("referral", "10.00", self.inviter.pk)):
                self.plan_spend(
                    minute=self.sim.end + 1,
                    packet=packet,
                    campaign=self.world.platform,
                    amount=D(amount),
                    cart=CHEAPEST,
                    issuer_user_id=issuer,
                    deferred=True,
                )
            self.plan_spend(
                minute=self.sim.end + 1,
                packet="share",
                campaign=self.world.platform,
                amount=D("5.00"),
                cart=CHEAPEST,
                deferred=True,
            )

    def account(self, user: User) -> None:
        for channel, issuer in (("registration", None), ("referral", self.inviter)):
            self.spend_packet(user, self.farm_phone, channel, issuer)
        self.spend_packet(self.inviter, self.own_phone, "share", None)

    def spend_packet(self, user: User, phone: Phone, channel: str, issuer: User | None) -> None:
        packet_kind = {"registration": "newbie"}.get(channel, channel)
        shop = self.world.pick_shop(self.rng, channel="store")
        spend_at = active(self.sim.minute + self.rng.randrange(20, 240, TICK))
        att = self.plan_spend(
            minute=spend_at,
            packet=packet_kind,
            campaign=self.world.platform,
            amount=self.world.amounts[channel],
            cart=CHEAPEST,
            issuer_user_id=issuer.pk if issuer else None,
        )
        packet = packet_of(user, channel, exclude=tuple(self.shares_used))
        if packet is None:
            att.outcome, att.reason = BLOCKED, "not_issued"
            return
        self.shares_used.add(packet.code)
        if att.outcome == PLANNED:
            self.spend(att, spend_at, lambda: self.pages_visit(phone, user, shop, CHEAPEST, packet.code))


class SelfReferral(ReferralFarm):
    """One person opens a second account on the own phone through the own invite link."""

    def __init__(self, sim, world, index):
        Attacker.__init__(self, sim, "self_referral", f"selfref{index}")
        self.world = world
        self.own_phone = self.new_phone(sim.ips.take("10.7"))
        self.farm_phone = self.own_phone
        self.shares_used = set()

    def plan(self) -> None:
        start = random_minute(self.rng, max(1, self.sim.cfg.days - 1))
        self.signups(lambda: self.own_phone, 1, start, self.account, invite=self.inviter.invite_code)


# --- the run -------------------------------------------------------------------------------------------------------


def build(sim: Sim) -> tuple[World, list[Actor]]:
    cfg = sim.cfg
    world = World(sim)
    for i in range(3):
        world.merchant(f"Store shop {i + 1}", f"S{i + 1}", "store", 1.0)
    for i in range(3):
        world.merchant(f"Web shop {i + 1}", f"W{i + 1}", "api", 1.0)
    brushing = world.merchant("Brushing shop", "B1", "api", 0.3)
    colluding = [
        world.merchant(f"Colluding shop {i + 1}", f"C{i + 1}", "store" if i % 2 == 0 else "api", 0.15)
        for i in range(cfg.colluding_merchants)
    ]
    sim.attacker_merchants = {shop.merchant.pk for shop in [brushing, *colluding]}
    people = honest_population(sim, world)
    attackers: list[Actor] = []
    attackers += [PacketFarm(sim, world, i, "one_phone") for i in range(cfg.farms)]
    attackers += [FakeOrders(sim, world, "no_trail", i, brushing) for i in range(cfg.fake_no_trail)]
    stores = [s for s in world.shops if s.channel == "store" and s.weight == 1.0]
    attackers += [FakeOrders(sim, world, "too_fast", i, stores[i % len(stores)]) for i in range(cfg.fake_too_fast)]
    attackers += [FakeOrders(sim, world, "scripted", i, stores[i % len(stores)]) for i in range(cfg.fake_scripted)]
    attackers += [Collusion(sim, world, shop, i) for i, shop in enumerate(colluding)]
    attackers += [ReferralFarm(sim, world, i) for i in range(cfg.referral_farms)]
    attackers += [SelfReferral(sim, world, i) for i in range(cfg.self_referrals)]
    attackers += [PacketFarm(sim, world, i, "fresh_devices") for i in range(cfg.fresh_device_farms)]
    # Existing accounts are opened before any campaign runs (so they earn no newbie packets), then aged.
    for actor in [*people, *attackers]:
        if hasattr(actor, "setup"):
            actor.setup()
    world.campaigns()
    settings.RATELIMIT_CACHE_PREFIX = f"{sim.rate_prefix}0:"
    for person in people:
        person.plan_warmup()
    for actor in [*people, *attackers]:
        actor.plan()
    return world, people + attackers


def settle(sim: Sim) -> None:
    """Read what became of every attempt that reached a redemption."""
    ids = [a.redemption_id for a in sim.attempts if a.redemption_id]
    rebates = defaultdict(list)
    for rebate in Rebate.objects.filter(redemption_id__in=ids):
        rebates[rebate.redemption_id].append(rebate)
    by_finding = {
        int(target.split(":")[1]): reason
        for target, reason in ReviewAction.objects.filter(action="hold", target__startswith="rebate:").values_list(
            "target", "reason"
        )
    }
    for att in sim.attempts:
        if att.outcome != "redeemed":
            continue
        legs = rebates.get(att.redemption_id, [])
        if att.kind == "honest":
            other = [r for r in legs if r.beneficiary_merchant_id in sim.attacker_merchants]
            att.other = sum((r.cost for r in other), D("0.00"))
            legs = [r for r in legs if r not in other]
        held_legs = [r for r in legs if r.held_for_review or r.status == Rebate.Status.REVERSED]
        att.held = sum((r.cost for r in held_legs), D("0.00"))
        att.paid = sum((r.cost for r in legs if r not in held_legs), D("0.00"))
        att.value = att.held + att.paid
        if att.held and not att.paid:
            att.outcome = HELD
        elif att.held:
            att.outcome = "partly_held"
        else:
            att.outcome = PAID
        reasons = set()
        for r in held_legs:
            if r.pk in by_finding:
                reasons.add(by_finding[r.pk].split(": ", 1)[-1])
            else:
                assessment = RiskAssessment.objects.filter(rebate=r).first()
                codes = [s["code"] for s in assessment.signals] if assessment else []
                reasons.add("score:" + "+".join(sorted(set(codes))))
        att.reason = ", ".join(sorted(reasons))


def summarize(sim: Sim) -> dict:
    rows = {}
    attempts = sim.attempts

    def block(selected: list[Attempt]) -> dict:
        value = sum((a.value for a in selected), D("0.00"))
        blocked = sum((a.value for a in selected if a.outcome == BLOCKED), D("0.00"))
        deferred = sum((a.value for a in selected if a.outcome in (DEFERRED, PLANNED)), D("0.00"))
        held = sum((a.held for a in selected), D("0.00"))
        paid = sum((a.paid for a in selected), D("0.00"))
        judged = value - deferred
        reasons = defaultdict(lambda: D("0.00"))
        for a in selected:
            if a.outcome == BLOCKED:
                reasons[f"blocked:{a.reason}"] += a.value
            elif a.held:
                for reason in a.reason.split(", "):
                    reasons[f"held:{reason}"] += a.held / max(1, len(a.reason.split(", ")))
            elif a.outcome == PAID:
                reasons["paid"] += a.paid
        return {
            "attempts": len(selected),
            "value": value,
            "blocked": blocked,
            "held": held,
            "paid": paid,
            "deferred": deferred,
            "caught_pct": float(100 * (blocked + held) / judged) if judged else None,
            "why": {k: v.quantize(D("0.01")) for k, v in sorted(reasons.items(), key=lambda kv: -kv[1])},
        }

    for kind in KINDS:
        selected = [a for a in attempts if a.kind == kind]
        if kind in NOT_APPLICABLE:
            rows[kind] = {"attempts": 0, "note": NOT_APPLICABLE[kind]}
            continue
        rows[kind] = block(selected)
        subs = sorted({a.sub for a in selected})
        if kind == "fake_orders" or len(subs) > 1:
            rows[kind]["subs"] = {sub: block([a for a in selected if a.sub == sub]) for sub in subs}
    honest = [a for a in attempts if a.kind == "honest"]
    h = block(honest)
    earned = h["held"] + h["paid"]
    h["earned"] = earned
    h["held_pct"] = float(100 * h["held"] / earned) if earned else 0.0
    h["blocked_pct"] = float(100 * h["blocked"] / (h["value"] - h["deferred"])) if h["value"] - h["deferred"] else 0
    h["shoppers"] = len(sim.honest_ids)
    h["to_attacking_merchants"] = sum((a.other for a in honest), D("0.00"))
    h["groups"] = {}
    for group in ("solo", "family", "office", "campus"):
        g = block([a for a in honest if a.sub == group])
        g_earned = g["held"] + g["paid"]
        g["held_pct"] = float(100 * g["held"] / g_earned) if g_earned else 0.0
        h["groups"][group] = g
    findings = defaultdict(int)
    for kind in Finding.objects.values_list("kind", flat=True):
        findings[kind] += 1
    return {"kinds": rows, "honest": h, "findings": dict(findings)}


def run_corpus(cfg: Config, *, log: Callable[[str], None] = print) -> dict:
    """Build the corpus from `cfg.seed`, run it, and return the figures (see `print_report`)."""
    local = timezone.localtime()
    if local.hour != 12:
        raise RuntimeError(
            f"TIME_ZONE {settings.TIME_ZONE} reads {local:%H:%M}: run the corpus with TIME_ZONE={corpus_time_zone()} "
            "(see the module docstring, Time)"
        )
    started = time.monotonic()
    undo = instrument()
    saved = {k: getattr(settings, k, None) for k in ("RATELIMIT_CACHE_PREFIX", "PASSWORD_HASHERS")}
    # Speed only: MD5 hashing of the corpus's throw-away passwords (the real hasher costs ~0.3 s per sign-up).
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    with connection.cursor() as cursor:  # speed only: this session's commits do not wait for the disk
        cursor.execute("SET synchronous_commit TO off")
    # Speed only, under pytest: Django's test environment instruments every template render (it keeps a copy of each
    # context for assertions on the response); the corpus reads no response context, so render as in production.
    from django.template import Template

    instrumented = getattr(Template, "_original_render", None) and Template._render
    if instrumented:
        Template._render = Template._original_render
    try:
        sim = Sim(cfg, log=log)
        if cfg.rebates:
            build(sim)
            log(
                f"built: {len(sim.honest_ids)} existing honest accounts (the rest sign up during the period); "
                f"existing attacker accounts {dict(_counts(sim.actors))}"
            )
            sim.run()
            settle(sim)
        report = summarize(sim)
        if not cfg.rebates:
            report["kinds"] = {}
        if cfg.lucky:
            lucky = run_lucky(
                LuckyConfig(
                    seed=cfg.seed,
                    days=cfg.days,
                    warmup_days=cfg.warmup_days,
                    families=cfg.lucky_families,
                    classes=cfg.lucky_classes,
                    loops=cfg.lucky_loops,
                    rings=cfg.lucky_rings,
                    batched_rings=cfg.lucky_batched_rings,
                    puppet_masters=cfg.lucky_puppet_masters,
                    puppets=cfg.lucky_puppets,
                ),
                log=log,
            )
            report["kinds"].update(lucky["kinds"])
            report["lucky_honest"] = {**lucky["honest"], "findings_naming_them": lucky["findings_on_honest"]}
            report["findings"] = {
                **{k: v for k, v in report["findings"].items() if k != "circular_flow"},
                **{f"circular_flow ({prefix.rstrip(':')})": n for prefix, n in lucky["findings"].items()},
            }
            sim.requests += lucky["requests"]
            for kind, ids in lucky["accounts"].items():
                sim.actors[kind] += ids
    finally:
        if instrumented:
            Template._render = instrumented
        undo()
        for key, value in saved.items():
            setattr(settings, key, value)
    report["config"] = asdict(cfg)
    report["run"] = {
        "seconds": round(time.monotonic() - started, 1),
        "requests": sim.requests,
        "detector_runs": sim.detector_runs,
        "clock_shifts": sim.shifts,
        "time_zone": settings.TIME_ZONE,
    }
    report["accounts"] = sim.accounts
    report["attempts"] = [
        {**asdict(a), "value": str(a.value), "paid": str(a.paid), "held": str(a.held), "other": str(a.other)}
        for a in sim.attempts
    ]
    return report


def _counts(actors: dict[str, list[int]]) -> dict[str, int]:
    return {kind: len(ids) for kind, ids in actors.items()}


def meets_targets(report: dict) -> dict[str, bool]:
    verdict = {}
    for kind, row in report["kinds"].items():
        if row.get("caught_pct") is not None:
            verdict[kind] = row["caught_pct"] >= TARGET_CAUGHT
    verdict["honest"] = report["honest"]["held_pct"] <= TARGET_HONEST_HELD
    if "lucky_honest" in report:  # lucky money is refused, never held: its honest target is on what was refused
        verdict["lucky_honest"] = report["lucky_honest"]["refused_pct"] <= TARGET_HONEST_HELD
    return verdict


def _money(value) -> str:
    return f"{Decimal(value):,.2f}"


def format_report(report: dict) -> str:
    lines = []
    header = (
        f"{'kind':<22}{'attempts':>9}{'attempted ¥':>13}{'blocked ¥':>12}{'held ¥':>11}{'paid ¥':>10}"
        f"{'deferred ¥':>12}{'held+blocked':>14}"
    )
    lines += [header, "-" * len(header)]

    def row(name: str, r: dict, honest: bool = False) -> str:
        pct = "—" if r.get("caught_pct") is None else f"{r['caught_pct']:.1f} %"
        if honest:  # for honest shoppers: the share of what they earned that was held (false positives)
            pct = f"{r['held_pct']:.1f} % held"
        return (
            f"{name:<22}{r['attempts']:>9}{_money(r['value']):>13}{_money(r['blocked']):>12}{_money(r['held']):>11}"
            f"{_money(r['paid']):>10}{_money(r['deferred']):>12}{pct:>14}"
        )

    for kind, r in report["kinds"].items():
        if "note" in r:
            lines.append(f"{kind:<22}{'—':>9}  {r['note']}")
            continue
        lines.append(row(kind, r))
        for sub, s in r.get("subs", {}).items():
            lines.append(row(f"  {sub}", s))
    h = report["honest"]
    lines.append("-" * len(header))
    lines.append(row(f"honest ({h['shoppers']} shoppers)", h, honest=True))
    for group, g in h["groups"].items():
        lines.append(row(f"  {group}", g, honest=True))
    lines.append("")
    lines.append(
        f"honest: earned ¥{_money(h['earned'])}, held ¥{_money(h['held'])} = {h['held_pct']:.2f} % "
        f"(target ≤ {TARGET_HONEST_HELD:.0f} %); refused by limits ¥{_money(h['blocked'])} = {h['blocked_pct']:.2f} % "
        f"of the honest value attempted; not counted: ¥{_money(h['to_attacking_merchants'])} of issuer legs that "
        "honest orders earned for attacking (colluding, brushing) merchants"
    )
    lucky = report.get("lucky_honest")
    if lucky:
        lines.append(row(f"lucky honest ({lucky['people']} people)", {**lucky, "held_pct": lucky["refused_pct"]}, True))
        for group, g in lucky["groups"].items():
            lines.append(row(f"  {group}", {**g, "held_pct": g["refused_pct"]}, honest=True))
        lines.append(
            f"lucky honest: grabbed ¥{_money(lucky['paid'])}, refused ¥{_money(lucky['blocked'])} = "
            f"{lucky['refused_pct']:.2f} % (target ≤ {TARGET_HONEST_HELD:.0f} %; lucky money is refused or paid, never "
            f"held: the % column of these rows is what was refused); findings naming them: "
            f"{lucky['findings_naming_them']}"
        )
    targets = meets_targets(report)
    lines.append(
        "targets: "
        + ", ".join(f"{k} {'met' if ok else 'MISSED'}" for k, ok in targets.items())
        + f" (≥ {TARGET_CAUGHT:.0f} % held or blocked per kind, ≤ {TARGET_HONEST_HELD:.0f} % honest held)"
    )
    lines.append("")
    lines.append("why (value by cause):")
    for kind, r in [*report["kinds"].items(), ("honest", h), ("lucky honest", report.get("lucky_honest", {}))]:
        if r.get("why"):
            causes = "; ".join(f"{k} ¥{_money(v)}" for k, v in list(r["why"].items())[:8])
            lines.append(f"  {kind}: {causes}")
    lines.append(f"findings: {report['findings']}")
    run = report["run"]
    lines.append(
        f"run: {run['seconds']} s, {run['requests']} requests, {run['detector_runs']} detector runs, "
        f"{run['clock_shifts']} clock shifts, TIME_ZONE {run['time_zone']}, seed {report['config']['seed']}, "
        f"{report['config']['warmup_days']} warm-up days"
    )
    return "\n".join(lines)


def _jsonable(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    defaults = Config()
    p.add_argument("--seed", type=int, default=defaults.seed, help=f"population seed (default {defaults.seed})")
    p.add_argument("--days", type=int, default=defaults.days, help=f"simulated days (default {defaults.days})")
    p.add_argument("--honest", type=int, default=defaults.honest, help="honest shoppers")
    p.add_argument("--farms", type=int, default=defaults.farms, help="packet farms")
    p.add_argument("--farm-accounts", type=int, default=defaults.farm_accounts, help="accounts per packet farm")
    p.add_argument("--fresh-device-farms", type=int, default=defaults.fresh_device_farms)
    p.add_argument("--fake", type=int, default=None, help="fake-order accounts per mode (default 10/10/12)")
    p.add_argument("--colluding-merchants", type=int, default=defaults.colluding_merchants)
    p.add_argument("--colluders", type=int, default=defaults.colluders, help="colluding shoppers per merchant")
    p.add_argument("--referral-farms", type=int, default=defaults.referral_farms)
    p.add_argument("--farm-invitees", type=int, default=defaults.farm_invitees, help="invitees per referral farm")
    p.add_argument("--self-referrals", type=int, default=defaults.self_referrals)
    p.add_argument("--detect-every", type=int, default=defaults.detect_every, help="minutes between detector runs")
    p.add_argument(
        "--warmup-days",
        type=int,
        default=defaults.warmup_days,
        help=f"days established honest shoppers shop before the period, not measured (default {defaults.warmup_days})",
    )
    p.add_argument("--small", action="store_true", help="the test suite's small corpus (other sizes ignored)")
    p.add_argument("--lucky-only", action="store_true", help="only the lucky-money phase (bench/fraud_lucky.py)")
    p.add_argument("--no-lucky", action="store_true", help="only the rebate corpus")
    p.add_argument("--json", type=Path, help="also write the figures (and every attempt) here")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    return p.parse_args(argv)


def config_from(args: argparse.Namespace) -> Config:
    phases = {"rebates": not args.lucky_only, "lucky": not args.no_lucky}
    if args.small:
        return replace(Config.small(seed=args.seed), **phases)
    given = {f.name: getattr(args, f.name) for f in fields(Config) if hasattr(args, f.name)}  # --farm-accounts etc.
    if args.fake is not None:
        given.update(fake_no_trail=args.fake, fake_too_fast=args.fake, fake_scripted=args.fake)
    return Config(**{**given, **phases})


def main(argv=None) -> int:
    from bench import common as bc

    args = parse_args(argv)
    cfg = config_from(args)
    bc.say(f"database {bc.redact(os.environ['DATABASE_URL'])}, TIME_ZONE {settings.TIME_ZONE}, seed {cfg.seed}")
    bc.migrate()
    report = run_corpus(cfg, log=bc.say)
    print(format_report(report), flush=True)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_jsonable(report), indent=2, ensure_ascii=False))
        bc.say(f"wrote {args.json}")
    code, output = bc.manage_audit(bc.subprocess_env())
    bc.say(f"manage.py audit: exit {code}\n{output}")
    if code != 0:
        return 1
    if args.strict and not all(meets_targets(report).values()):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
