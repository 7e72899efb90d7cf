"""The fraud corpus's lucky-money phase (issue 14, item 7): honest families and classes that send each other packets
every day, and attackers who launder value through lucky packets — loops (A → B → A), rings of 3–5 accounts (one
packet in flight, or a day's volume at once), sock-puppet grabbers on one phone — through the real API and pages,
scored like every other kind of bench/fraud_corpus.py (≥ 95 % of the abusive value blocked or held; honest value
refused ≤ 1 %). Run by `run_corpus` after the rebate corpus (or alone: `--lucky-only`); figures in docs/ANTIFRAUD.md,
"Lucky money".

What runs. Sends go through `POST /api/v1/lucky/packets/` (token, Idempotency-Key, a phone's REMOTE_ADDR); group
packets are grabbed through the room's grab button (`POST /lucky/packets/<id>/grab/`, the phone's signed device
cookie), one-person packets through `POST /api/v1/lucky/packets/<id>/grab/` (the page has no button for them). Money
comes in by a top-up from outside the platform (what earned rebates or a WeChat Pay payment would bring).

Time. Each simulated day runs its events in order (minutes 08:00–22:00); the rate limits' windows roll over every
simulated minute (a new key prefix). At night every lucky timestamp (packets' created/expires/finished, shares'
grabbed/returned) moves back 24 h and the expiry task runs, so the daily caps, the 24-hour expiry and the rings'
7-day window see the days pass. Honest groups warm up for `warmup_days` (not measured: history a platform has), the
attackers act in the measured days only.

Value. An attempt is one packet the actor sends (a grab of it included), worth its total; for honest group packets
and the puppets each grab is an attempt, worth the share (a refused grab: the packet's mean share). Paid: the share
reached the grabber; blocked: the send or the grab was refused by a rule (403 `risk_blocked`, `lucky_ring`,
`under_review`, `device_shared`, the daily caps), or the attacker's money was stuck in the escrow by an earlier
refusal (`insufficient_funds`); `all_grabbed` and `packet_expired` are no attempt of an honest grabber (somebody else
was faster). Nothing is *held* on this path: lucky money is refused or paid.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import connection
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from accounts.models import User
from antifraud.models import Finding
from lucky.models import LuckyPacket, LuckyShare
from lucky.risk import CHAIN_PREFIX, RING_PREFIX
from lucky.services import group_create, group_join, packets_expire_due
from rebates.ledger import ledger_account, platform_account, transfer
from rebates.models import AccountKind

D = Decimal
OPEN, CLOSE = 8 * 60, 22 * 60
PASSWORD = "lucky-corpus-Pa55"
KINDS = ("lucky_loop", "lucky_ring", "lucky_puppets")
FAMILY_AMOUNTS = [D(x) for x in ("5.20", "6.66", "8.88", "10.00", "13.14", "16.88", "20.00", "52.00", "66.00")]
ONE_TO_ONE = [D(x) for x in ("13.14", "20.00", "52.00", "66.00", "88.88", "100.00", "131.40", "200.00")]
CLASS_AMOUNTS = [D(x) for x in ("10.00", "20.00", "30.00", "50.00")]
NORMAL = {"all_grabbed", "packet_expired"}  # a grab that found nothing: not an attempt


@dataclass(frozen=True)
class LuckyConfig:
    seed: int = 6
    days: int = 3
    warmup_days: int = 7
    families: int = 24
    classes: int = 3
    loops: int = 4
    rings: int = 6  # sizes 3, 4, 5 in turn
    batched_rings: int = 3  # rings moving a day's volume at once (5 packets per hop, two laps a day)
    puppet_masters: int = 3
    puppets: int = 5  # accounts per puppet phone


@dataclass
class Attempt:
    kind: str
    sub: str
    actor: str
    value: D
    day: int
    outcome: str = "planned"
    reason: str = ""
    hop: int = 0  # attackers: which hop (ring, loop) or round (puppets) of the actor's plan, from 0


class Phone:
    """One phone: a page browser (its signed device cookie) and the app's API client, on one IP."""

    def __init__(self, world: World, ip: str):
        self.world, self.ip = world, ip
        self.page = Client()
        self.user: User | None = None

    def use(self, user: User) -> None:
        if self.user is None or self.user.pk != user.pk:
            self.page.force_login(user)
            self.user = user

    def page_grab(self, user: User, packet_id: int) -> tuple[bool, str]:
        self.use(user)
        self.world.requests += 1
        reply = self.page.post(f"/lucky/packets/{packet_id}/grab/", REMOTE_ADDR=self.ip, HTTP_ACCEPT="application/json")
        body = reply.json()
        return body["outcome"] == "got", body.get("code") or body["outcome"]

    def api(self, user: User) -> APIClient:
        client = APIClient(REMOTE_ADDR=self.ip)
        client.credentials(HTTP_AUTHORIZATION=f"Token {self.world.token(user)}")
        return client

    def api_send(self, user: User, *, total: D, shares: int = 1, group=None, recipient=None) -> tuple[int | None, str]:
        body = {"kind": "random", "total": str(total), "share_count": shares, "message": "恭喜发财"}
        body.update({"group_id": group.pk} if group is not None else {"recipient_id": recipient.pk})
        self.world.requests += 1
        reply = self.api(user).post(
            "/api/v1/lucky/packets/", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex
        )
        if reply.status_code == 201:
            return reply.json()["id"], ""
        return None, reply.json().get("code", str(reply.status_code))

    def api_grab(self, user: User, packet_id: int) -> tuple[bool, str]:
        self.world.requests += 1
        reply = self.api(user).post(f"/api/v1/lucky/packets/{packet_id}/grab/")
        return reply.status_code == 200, "" if reply.status_code == 200 else reply.json().get("code", "")


class World:
    def __init__(self, cfg: LuckyConfig, *, log: Callable[[str], None] = print):
        self.cfg, self.log = cfg, log
        self.heap: list = []
        self.seq = itertools.count()
        self.day = -cfg.warmup_days
        self.minute = 0
        self.attempts: list[Attempt] = []
        self.requests = 0
        self.numbers = itertools.count(1)
        self.ip_counter = itertools.count(1)
        self.tokens: dict[int, str] = {}
        self.prefix = f"rl:lucky-corpus:{uuid.uuid4().hex[:8]}:"
        self.actors: dict[str, list[int]] = defaultdict(list)
        self.honest_ids: set[int] = set()

    def rng(self, name: str) -> random.Random:
        return random.Random(f"{self.cfg.seed}:lucky:{name}")

    def ip(self, prefix: str) -> str:
        n = next(self.ip_counter)
        return f"{prefix}.{n // 250 % 250}.{n % 250 + 1}"

    def user(self, kind: str, *, cash: D | None = None) -> User:
        n = next(self.numbers)
        user = User.objects.create_user(username=f"lucky{n}", phone=f"17{n:09d}", password=PASSWORD)
        (self.honest_ids.add(user.pk) if kind == "honest" else self.actors[kind].append(user.pk))
        if cash:
            self.top_up(user, cash)
        return user

    def top_up(self, user: User, amount: D) -> None:
        transfer(
            source=platform_account(AccountKind.PLATFORM_EXTERNAL),
            destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=user.pk),
            amount=amount,
            kind="corpus_top_up",
            idempotency_key=f"corpus-top-up:{uuid.uuid4().hex}",
            reference=f"user:{user.pk}",
        )

    def token(self, user: User) -> str:
        if user.pk not in self.tokens:
            self.tokens[user.pk] = Token.objects.get_or_create(user=user)[0].key
        return self.tokens[user.pk]

    def at(self, minute: int, fn: Callable[[], None]) -> None:
        heapq.heappush(self.heap, (max(minute, self.minute), next(self.seq), fn))

    def attempt(self, kind: str, sub: str, actor: str, value: D, hop: int = 0) -> Attempt:
        att = Attempt(kind, sub, actor, value, self.day, hop=hop)
        if self.day >= 0:
            self.attempts.append(att)
        return att

    def run(self, actors: list) -> None:
        for day in range(-self.cfg.warmup_days, self.cfg.days):
            self.day = day
            for actor in actors:
                if day >= 0 or actor.honest:
                    actor.plan_day(day)
            while self.heap:
                self.minute, _seq, fn = heapq.heappop(self.heap)
                settings.RATELIMIT_CACHE_PREFIX = f"{self.prefix}{day}:{self.minute}:"
                fn()
            self.night()
            self.minute = 0

    def night(self) -> None:
        """A day passes: lucky timestamps move back 24 h, then the expiry task returns what nobody grabbed."""
        with connection.cursor() as cursor:
            day = timedelta(days=1)
            cursor.execute(
                f"UPDATE {LuckyPacket._meta.db_table} SET created_at = created_at - %s, expires_at = expires_at - %s, "
                "finished_at = finished_at - %s",
                [day, day, day],
            )
            cursor.execute(
                f"UPDATE {LuckyShare._meta.db_table} SET grabbed_at = grabbed_at - %s, returned_at = returned_at - %s",
                [day, day],
            )
        packets_expire_due(limit=100_000)


def share_of(packet_id: int, user: User) -> D:
    return LuckyShare.objects.get(packet_id=packet_id, grabbed_by=user).amount


def settle_grab(att: Attempt, ok: bool, code: str, amount: Callable[[], D]) -> None:
    if ok:
        att.outcome, att.value = "paid", amount()
    else:
        att.outcome, att.reason = "blocked", code


# --- honest ---------------------------------------------------------------------------------------------------------


class Group:
    """A family (3–6, one couple in five sharing a phone) or a class (20–40 on a campus IP, a teacher sending most)."""

    honest = True

    def __init__(self, world: World, sub: str, index: int):
        self.world, self.sub, self.name = world, sub, f"{sub}-{index}"
        self.rng = world.rng(self.name)
        size = self.rng.randint(3, 6) if sub == "family" else self.rng.randint(20, 40)
        ip = world.ip("10.60" if sub == "family" else "10.61")
        self.members = [world.user("honest", cash=D("2000.00")) for _ in range(size)]
        self.phones: dict[int, Phone] = {}
        shared = Phone(world, ip) if sub == "family" and self.rng.random() < 0.2 else None
        for i, member in enumerate(self.members):
            self.phones[member.pk] = shared if shared is not None and i < 2 else Phone(world, ip)
        self.group = group_create(owner=self.members[0], name=self.name)
        for member in self.members[1:]:
            group_join(user=member, invite_token=self.group.invite_token)

    def plan_day(self, day: int) -> None:
        rng = self.rng
        if self.sub == "family":
            for member in self.members:
                if rng.random() < 0.35:
                    amount = rng.choice(FAMILY_AMOUNTS)
                    self.world.at(rng.randint(OPEN, CLOSE - 120), lambda m=member, a=amount: self.send_group(m, a))
                if rng.random() < 0.04:  # a one-person packet: a birthday, a thank-you, pocket money
                    other = rng.choice([m for m in self.members if m.pk != member.pk])
                    amount = rng.choice(ONE_TO_ONE)
                    self.world.at(
                        rng.randint(OPEN, CLOSE - 120), lambda m=member, o=other, a=amount: self.send_one(m, o, a)
                    )
        else:
            teacher = self.members[0]
            for _ in range(rng.randint(1, 2)):
                amount = rng.choice(CLASS_AMOUNTS)
                self.world.at(rng.randint(OPEN, CLOSE - 120), lambda a=amount: self.send_group(teacher, a))
            for student in self.members[1:]:
                if rng.random() < 0.05:
                    amount = D(rng.randint(2, 10))
                    self.world.at(rng.randint(OPEN, CLOSE - 120), lambda s=student, a=amount: self.send_group(s, a))

    def send_group(self, sender: User, total: D) -> None:
        rng = self.rng
        others = len(self.members) - 1
        shares = rng.randint(2, others) if self.sub == "family" else rng.randint(min(10, others), others)
        shares = min(shares, int(total * 100))
        att = self.world.attempt("honest", self.sub, self.name, total)
        packet_id, code = self.phones[sender.pk].api_send(sender, total=total, shares=shares, group=self.group)
        if packet_id is None:
            att.outcome, att.reason = "blocked", code
            return
        att.outcome, att.value = "sent", D("0.00")  # the send itself is no value: its grabs are
        grab_p = 0.85 if self.sub == "family" else 0.7
        for member in self.members:
            if member.pk != sender.pk and rng.random() < grab_p:
                delay = rng.choice([rng.randint(1, 20), rng.randint(20, 600)])
                self.world.at(
                    self.world.minute + delay, lambda m=member, p=packet_id, t=total, n=shares: self.grab(m, p, t / n)
                )

    def grab(self, member: User, packet_id: int, mean: D) -> None:
        ok, code = self.phones[member.pk].page_grab(member, packet_id)
        if not ok and code in NORMAL:
            return
        att = self.world.attempt("honest", self.sub, self.name, mean.quantize(D("0.01")))
        settle_grab(att, ok, code, lambda: share_of(packet_id, member))

    def send_one(self, sender: User, other: User, total: D) -> None:
        att = self.world.attempt("honest", self.sub, self.name, total)
        packet_id, code = self.phones[sender.pk].api_send(sender, total=total, recipient=other)
        if packet_id is None:
            att.outcome, att.reason = "blocked", code
            return
        delay = self.rng.randint(5, 300)

        def grab():
            ok, code = self.phones[other.pk].api_grab(other, packet_id)
            settle_grab(att, ok, code, lambda: total)

        self.world.at(self.world.minute + delay, grab)


# --- attackers ------------------------------------------------------------------------------------------------------


class Ring:
    """k accounts passing dirty money round: each hop a one-person packet from the holder to the next, grabbed a few
    minutes later, forwarded at the next slot. `batch` packets per hop (1: one packet in flight, ten hops a day;
    5: the day's volume at once, two laps a day). Each on its own phone and IP, API clients."""

    honest = False

    def __init__(self, world: World, kind: str, sub: str, index: int, size: int, batch: int = 1):
        self.world, self.kind, self.sub, self.name = world, kind, sub, f"{sub}-{index}"
        self.rng = world.rng(self.name)
        self.batch = batch
        self.members = [world.user(kind) for _ in range(size)]
        self.phones = {m.pk: Phone(world, world.ip("10.70")) for m in self.members}
        # The dirty money: one packet's worth per packet in flight, passed on fen for fen.
        self.amount = D(self.rng.randint(18_000, 20_000)) / 100 if batch == 1 else D("200.00")
        world.top_up(self.members[0], self.amount * batch)
        self.holder = 0
        self.hops = 0

    def plan_day(self, day: int) -> None:
        slots = 10 if self.batch == 1 else 2 * len(self.members)
        step = (CLOSE - 60 - OPEN) // slots
        for i in range(slots):
            self.world.at(OPEN + i * step + self.rng.randint(0, step // 3), self.hop)

    def hop(self) -> None:
        sender = self.members[self.holder]
        nxt = self.members[(self.holder + 1) % len(self.members)]
        moved = 0
        for _ in range(self.batch):
            att = self.world.attempt(self.kind, self.sub, self.name, self.amount, hop=self.hops)
            packet_id, code = self.phones[sender.pk].api_send(sender, total=self.amount, recipient=nxt)
            if packet_id is None:
                att.outcome, att.reason = "blocked", code
                continue
            ok, code = self.phones[nxt.pk].api_grab(nxt, packet_id)
            settle_grab(att, ok, code, lambda: self.amount)
            moved += ok
        self.hops += 1
        if moved:
            self.holder = (self.holder + 1) % len(self.members)


class Puppets:
    """A source account sends 200.00 in 5 random shares into a group of a collector's puppets, eight times a day; the
    puppets, all on one phone, grab every share through the room's button."""

    honest = False

    def __init__(self, world: World, index: int, puppets: int):
        self.world, self.kind, self.sub, self.name = world, "lucky_puppets", "one_phone", f"puppets-{index}"
        self.rng = world.rng(self.name)
        self.source = world.user(self.kind, cash=D("5000.00"))
        self.puppets = [world.user(self.kind) for _ in range(puppets)]
        self.source_phone = Phone(world, world.ip("10.71"))
        self.phone = Phone(world, world.ip("10.72"))
        self.group = group_create(owner=self.source, name=self.name)
        for puppet in self.puppets:
            group_join(user=puppet, invite_token=self.group.invite_token)
        self.rounds = 0

    def plan_day(self, day: int) -> None:
        for i in range(8):
            self.world.at(OPEN + i * 90 + self.rng.randint(0, 30), self.round)

    def round(self) -> None:
        n, hop = len(self.puppets), self.rounds
        self.rounds += 1
        packet_id, code = self.source_phone.api_send(self.source, total=D("200.00"), shares=n, group=self.group)
        if packet_id is None:
            for _ in range(n):
                att = self.world.attempt(self.kind, self.sub, self.name, D("200.00") / n, hop=hop)
                att.outcome, att.reason = "blocked", code
            return
        for puppet in self.puppets:
            att = self.world.attempt(self.kind, self.sub, self.name, D("200.00") / n, hop=hop)
            ok, code = self.phone.page_grab(puppet, packet_id)
            settle_grab(att, ok, code, lambda p=puppet: share_of(packet_id, p))


# --- the phase ------------------------------------------------------------------------------------------------------


def build(world: World) -> list:
    cfg = world.cfg
    actors: list = [Group(world, "family", i) for i in range(cfg.families)]
    actors += [Group(world, "class", i) for i in range(cfg.classes)]
    actors += [Ring(world, "lucky_loop", "loop", i, 2) for i in range(cfg.loops)]
    actors += [Ring(world, "lucky_ring", f"ring{3 + i % 3}", i, 3 + i % 3) for i in range(cfg.rings)]
    actors += [Ring(world, "lucky_ring", "batched", i, 3 + i % 3, batch=5) for i in range(cfg.batched_rings)]
    actors += [Puppets(world, i, cfg.puppets) for i in range(cfg.puppet_masters)]
    return actors


def _block(selected: list[Attempt]) -> dict:
    value = sum((a.value for a in selected), D("0.00"))
    blocked = sum((a.value for a in selected if a.outcome == "blocked"), D("0.00"))
    paid = sum((a.value for a in selected if a.outcome == "paid"), D("0.00"))
    why: dict[str, D] = defaultdict(lambda: D("0.00"))
    for a in selected:
        why[f"blocked:{a.reason}" if a.outcome == "blocked" else a.outcome] += a.value
    return {
        "attempts": len(selected),
        "value": value,
        "blocked": blocked,
        "held": D("0.00"),
        "paid": paid,
        # what got through after an actor's first hop (rings, loops) or first round (puppets): the rules' promise is 0
        "paid_after_first_hop": sum((a.value for a in selected if a.outcome == "paid" and a.hop > 0), D("0.00")),
        "deferred": D("0.00"),
        "caught_pct": float(100 * blocked / value) if value else None,
        "why": dict(sorted(why.items(), key=lambda kv: -kv[1])),
    }


def summarize(world: World) -> dict:
    attempts = [a for a in world.attempts if a.outcome in ("paid", "blocked")]
    rows = {}
    for kind in KINDS:
        selected = [a for a in attempts if a.kind == kind]
        rows[kind] = _block(selected)
        subs = sorted({a.sub for a in selected})
        if len(subs) > 1:
            rows[kind]["subs"] = {sub: _block([a for a in selected if a.sub == sub]) for sub in subs}
    honest = [a for a in attempts if a.kind == "honest"]
    h = _block(honest)
    h["refused_pct"] = float(100 * h["blocked"] / h["value"]) if h["value"] else 0.0
    h["people"] = len(world.honest_ids)
    h["groups"] = {}
    for sub in ("family", "class"):
        g = _block([a for a in honest if a.sub == sub])
        g["refused_pct"] = float(100 * g["blocked"] / g["value"]) if g["value"] else 0.0
        h["groups"][sub] = g
    return {"kinds": rows, "honest": h, "requests": world.requests, "accounts": dict(world.actors)}


def run_lucky(cfg: LuckyConfig, *, log: Callable[[str], None] = print) -> dict:
    world = World(cfg, log=log)
    actors = build(world)
    log(f"lucky: {len(world.honest_ids)} honest people in {cfg.families} families and {cfg.classes} classes")
    quiet = logging.getLogger("django.request")  # every refusal would print "Forbidden: …"
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        world.run(actors)
    finally:
        quiet.setLevel(level)
    report = summarize(world)
    report["findings"] = {
        prefix: Finding.objects.filter(fingerprint__startswith=prefix).count() for prefix in (RING_PREFIX, CHAIN_PREFIX)
    }
    report["findings_on_honest"] = Finding.objects.filter(user_ids__overlap=sorted(world.honest_ids)).count()
    return report
