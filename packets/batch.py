"""Batch generation of unclaimed red packets (紅包生成), their claim by code, and the CSV export of a batch.

Generation writes N packets with no holder (channel "batch") through PostgreSQL COPY, in chunks, streaming: no
model objects, a few megabytes of Python memory whatever N is. The whole batch — its packets, the campaign's
`packets_issued` counter and ONE ledger transaction reserving the batch total from the campaign budget into
"packets outstanding" (key `batch:<id>`) — commits together or not at all.

Lock order (no deadlock with orders): the campaign's ledger accounts first, then the campaign row, exactly as
`packets.services.order_create` does. Both are taken only at the end, after the COPY, so orders of the same
campaign wait a few milliseconds, not the length of the COPY; the budget and the limit are read before anything is
written (a clear refusal) and checked again under the locks (the proof).
"""

import base64
import bisect
import csv
import io
import itertools
import logging
import secrets
import time
from array import array
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
from celery import shared_task
from django.core.cache import cache
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from antifraud.limits import EARN, NO_CONTEXT, EarnContext, earning_event_record, earning_limits_count
from campaigns import errors as campaign_errors
from campaigns.models import Campaign, EarnRule
from campaigns.rules import Tier
from campaigns.selectors import campaign_budget_account, campaign_outstanding_account
from common.errors import ApplicationError, Conflict
from common.money import ZERO
from rebates.ledger import Posting, ledger_post
from rebates.ledger.floats import floats_collect
from rebates.lock_objects import ledger_accounts_lock

from . import codes
from .errors import BudgetExhausted, PacketNotFound, PacketUnusable
from .models import Packet, PacketBatch

logger = logging.getLogger(__name__)

CHANNEL = "batch"
MAX_COUNT = 5_000_000
CHUNK_SIZE = 20_000
# A 80-bit code collides with one of a billion others with probability ~1e-15: one retry is already paranoid.
COLLISION_RETRIES = 3
PROGRESS_TTL = 24 * 3600

Progress = Callable[[int, int], None]


class PacketAlreadyClaimed(Conflict):
    code = "packet_already_claimed"


class BatchRefused(ApplicationError):
    """The batch cannot be generated as asked (input, campaign state, limits)."""

    code = "batch_refused"


# --- codes -----------------------------------------------------------------------------------------------------

# RFC 4648 base32 turns 10 random bytes into exactly 16 symbols of 5 bits; mapping its alphabet onto Crockford's
# gives the same codes as codes.new_code (16 uniform symbols of codes.ALPHABET), about twenty times faster.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", codes.ALPHABET.encode())


def new_codes(n: int) -> list[str]:
    """`n` fresh codes (80 bits from the OS's CSPRNG each) in the XXXX-XXXX-XXXX-XXXX format."""
    raw = base64.b32encode(secrets.token_bytes(10 * n)).translate(_TO_CROCKFORD).decode("ascii")
    return [
        f"{raw[i : i + 4]}-{raw[i + 4 : i + 8]}-{raw[i + 8 : i + 12]}-{raw[i + 12 : i + 16]}"
        for i in range(0, 16 * n, 16)
    ]


def claim_url(code: str) -> str:
    """The shopper's claim page for one code (served by the pages app)."""
    return f"/claim/{code}/"


# --- the plan: what a batch will write, known before anything is written ---------------------------------------


def parse_tiers(text: str) -> tuple[Tier, ...]:
    """amount:weight pairs ("5.00:70, 10.00:30") as engine tiers; ValueError with a message a manager can act on."""
    return EarnRule(tiers=text or "").parsed_tiers()


@dataclass
class Plan:
    amounts: list[Decimal]  # one per tier (a single amount when there are no tiers)
    picks: bytearray | None  # the tier index of each packet; None when there is one amount
    total: Decimal
    count: int

    def amount_counts(self) -> dict[Decimal, int]:
        if self.picks is None:
            return {self.amounts[0]: self.count}
        result: dict[Decimal, int] = {}
        for i, amount in enumerate(self.amounts):
            result[amount] = result.get(amount, 0) + self.picks.count(i)
        return result


def _draw_picks(tiers: tuple[Tier, ...], n: int) -> bytearray:
    """Weighted draw of a tier for each of `n` packets, from the OS's CSPRNG: the same rule as
    campaigns.rules.draw_tier (a uniform point in [0, total weight), first tier whose running weight exceeds it)."""
    cumulative = list(itertools.accumulate(t.weight for t in tiers))
    total_weight = cumulative[-1]
    values = array("I")
    if values.itemsize != 4:  # pragma: no cover — every platform we run on has a 4-byte unsigned int
        values = array("L")
    values.frombytes(secrets.token_bytes(values.itemsize * n))
    shift = 8 * values.itemsize
    return bytearray(bisect.bisect_right(cumulative, (v * total_weight) >> shift) for v in values)


def _tiers(rule: EarnRule, tiers: str) -> tuple[Tier, ...]:
    """The tiers asked for, else the rule's (empty: the rule's single packet amount)."""
    try:
        parsed = parse_tiers(tiers) if tiers.strip() else rule.parsed_tiers()
    except ValueError as exc:
        raise BatchRefused(str(exc), code="invalid_tiers") from exc
    if len(parsed) > 255:
        raise BatchRefused(_("At most 255 tiers."), code="invalid_tiers")
    return parsed


def batch_plan(*, rule: EarnRule, tiers: str, count: int) -> Plan:
    parsed = _tiers(rule, tiers)
    if len(parsed) > 1:
        picks = _draw_picks(parsed, count)
        amounts = [t.amount for t in parsed]
        plan = Plan(amounts=amounts, picks=picks, total=ZERO, count=count)
    else:
        amount = parsed[0].amount if parsed else rule.packet_amount
        plan = Plan(amounts=[amount], picks=None, total=ZERO, count=count)
    plan.total = sum((amount * n for amount, n in plan.amount_counts().items()), ZERO)
    return plan


def _default_rule(campaign: Campaign) -> EarnRule:
    rules = list(campaign.earn_rules.order_by("pk"))
    manual = [r for r in rules if r.trigger == EarnRule.Trigger.MANUAL]
    if not rules:
        raise BatchRefused(_("The campaign has no earn rule to take the packet terms from."), code="no_earn_rule")
    return (manual or rules)[0]


def _validate(*, campaign: Campaign, rule: EarnRule, count: int, valid_days: int, now: datetime) -> None:
    if not 1 <= count <= MAX_COUNT:
        raise BatchRefused(
            _("Generate between 1 and %(max)s packets at a time.") % {"max": format(MAX_COUNT, ",")},
            code="invalid_count",
        )
    if valid_days < 1:
        raise BatchRefused(_("Packets must be valid for at least one day."), code="invalid_valid_days")
    if rule.campaign_id != campaign.pk:
        raise BatchRefused(_("The earn rule belongs to another campaign."), code="rule_not_in_campaign")
    if campaign.status == Campaign.Status.ENDED or campaign.ends_at <= now:
        raise BatchRefused(_("The campaign has ended."), code="campaign_ended")


def _precheck(*, campaign: Campaign, plan: Plan) -> None:
    """Refuse before anything is written. Read without locks: `_reserve` checks again under them."""
    available = campaign_budget_account(campaign).balance
    if available < plan.total:
        raise BudgetExhausted(
            _("The campaign budget (%(available)s) cannot cover this batch (%(total)s).")
            % {"available": available, "total": plan.total},
            details={"needed": str(plan.total), "available": str(available)},
        )
    campaign.refresh_from_db(fields=["packets_issued", "packet_limit"])
    if campaign.packet_limit and campaign.packets_issued + plan.count > campaign.packet_limit:
        raise BatchRefused(
            _(
                "The campaign may issue %(limit)s packets in total; %(issued)s are issued, %(count)s more would pass "
                "the limit."
            )
            % {"limit": campaign.packet_limit, "issued": campaign.packets_issued, "count": plan.count},
            code="campaign_limit_reached",
            details={"limit": campaign.packet_limit, "issued": campaign.packets_issued},
        )


# --- writing ----------------------------------------------------------------------------------------------------

_COPY_SQL = (
    "COPY packets_packet (code, amount, campaign_id, earn_rule_id, issuer_merchant_id, channel, min_spend, "
    "categories, denied_categories, status, issued_at, expires_at, batch_id) FROM STDIN"
)


def _copy_field(value: str | None) -> str:
    """One field of COPY's text format: NULL is \\N; backslash, tab and newlines are escaped."""
    if value is None:
        return r"\N"
    return value.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _pg_array(values: list[str]) -> str:
    quoted = ('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values)
    return "{" + ",".join(quoted) + "}"


def _row_tail(*, batch: PacketBatch, rule: EarnRule, campaign: Campaign, issued_at: datetime, expires_at: datetime):
    """Everything after (code, amount): the same for every packet of the batch, formatted once."""
    fields = [
        str(campaign.pk),
        str(rule.pk),
        str(campaign.merchant_id) if campaign.merchant_id else None,
        CHANNEL,
        str(rule.min_spend),
        _pg_array(list(rule.allowed_categories)),
        _pg_array(list(rule.denied_categories)),
        Packet.Status.ISSUED.value,
        issued_at.isoformat(),
        expires_at.isoformat(),
        str(batch.pk),
    ]
    return "\t" + "\t".join(_copy_field(f) for f in fields) + "\n"


def _referenced_rows_locked(*, campaign: Campaign, rule: EarnRule, batch: PacketBatch) -> None:
    """What PostgreSQL's deferred foreign-key checks do at commit, done once instead of once per packet: lock each
    row the packets refer to against deletion (FOR KEY SHARE) and prove it still exists. Taken at the end, like the
    deferred checks, so the COPY never holds a lock that orders or claims of the campaign would wait on."""
    refs = [
        ("campaigns_campaign", campaign.pk),
        ("campaigns_earnrule", rule.pk),
        ("packets_packetbatch", batch.pk),
    ]
    if campaign.merchant_id:
        refs.append(("accounts_merchant", campaign.merchant_id))
    with connection.cursor() as cursor:
        for table, pk in refs:  # table names are ours, never input
            cursor.execute(f"SELECT 1 FROM {table} WHERE id = %s FOR KEY SHARE", [pk])
            if cursor.fetchone() is None:
                raise BatchRefused(
                    _("%(table)s %(pk)s was deleted while the batch was written.") % {"table": table, "pk": pk},
                    code="batch_stale",
                )


def _skip_fk_triggers_allowed() -> bool:
    """Whether the COPY may run with session_replication_role = replica, which skips the per-row foreign-key
    triggers (half the cost of a batch). Only when this database role may set it (a superuser, or PostgreSQL 15+
    `GRANT SET ON PARAMETER session_replication_role TO <role>`) and the packets table has no trigger of its own,
    so the only triggers skipped are the foreign-key checks `_referenced_rows_locked` stands in for."""
    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgrelid = 'packets_packet'::regclass
                                   AND NOT tgisinternal),
                      current_setting('is_superuser') = 'on'
                      OR (current_setting('server_version_num')::int >= 150000
                          AND has_parameter_privilege('session_replication_role', 'SET'))"""
        )
        no_own_triggers, may_set = cursor.fetchone()
    return bool(no_own_triggers and may_set)


def _copy_packets(*, plan: Plan, tail: str, chunk_size: int, progress: Progress | None, skip_fk_triggers: bool) -> None:
    raw = connection.connection  # psycopg 3, inside Django's transaction
    amounts = [str(a) for a in plan.amounts]
    written = 0
    while written < plan.count:
        size = min(chunk_size, plan.count - written)
        if plan.picks is None:
            chunk_amounts = [amounts[0]] * size
        else:
            chunk_amounts = [amounts[i] for i in plan.picks[written : written + size]]
        for attempt in itertools.count(1):
            # Sorted within the chunk: the code indexes fill page by page (a fifth less work); a neighbour's code
            # still leaves ~2^65 candidates for a packet's own at 20,000 a chunk.
            chunk_codes = sorted(new_codes(size))
            data = "".join(
                [f"{code}\t{amount}{tail}" for code, amount in zip(chunk_codes, chunk_amounts, strict=True)]
            ).encode()
            try:
                with transaction.atomic():  # a savepoint: a code collision redoes this chunk only
                    with raw.cursor() as cursor:
                        if skip_fk_triggers:
                            # SET LOCAL in the savepoint: undone with it if the COPY fails, reset right after.
                            cursor.execute("SET LOCAL session_replication_role = replica")
                        with cursor.copy(_COPY_SQL) as copy:
                            copy.write(data)
                        if skip_fk_triggers:
                            cursor.execute("SET LOCAL session_replication_role = origin")
                break
            except psycopg.errors.UniqueViolation:
                if attempt >= COLLISION_RETRIES:
                    raise
                logger.warning("packet batch: code collision in a chunk, retrying it (attempt %s)", attempt)
        written += size
        if progress:
            progress(written, plan.count)
    with connection.cursor() as cursor:  # the ledger's triggers must fire: prove they will
        cursor.execute("SELECT current_setting('session_replication_role')")
        if cursor.fetchone()[0] != "origin":
            raise RuntimeError("session_replication_role was not reset after the batch COPY")


def _reserve(*, batch: PacketBatch, campaign: Campaign, rule: EarnRule, plan: Plan, check_references: bool) -> None:
    """Count the batch against the campaign limit and reserve its total, under the locks, at the very end."""
    budget, outstanding = campaign_budget_account(campaign), campaign_outstanding_account(campaign)
    locked = ledger_accounts_lock([budget.pk, outstanding.pk])  # accounts, then the campaign row: as orders do
    if check_references:
        _referenced_rows_locked(campaign=campaign, rule=rule, batch=batch)
    available = locked[budget.pk].balance
    if available < plan.total:
        available = floats_collect(budget)  # money parked in the budget's floats counts too
    if available < plan.total:
        raise BudgetExhausted(
            _("The campaign budget (%(available)s) cannot cover this batch (%(total)s).")
            % {"available": available, "total": plan.total},
            details={"needed": str(plan.total), "available": str(available)},
        )
    with connection.cursor() as cursor:
        cursor.execute(
            """UPDATE campaigns_campaign SET packets_issued = packets_issued + %(n)s
               WHERE id = %(c)s AND (packet_limit = 0 OR packets_issued + %(n)s <= packet_limit)""",
            {"n": plan.count, "c": campaign.pk},
        )
        if cursor.rowcount == 0:
            raise BatchRefused(_("The batch would pass the campaign's packet limit."), code="campaign_limit_reached")
    ledger_post(
        kind="packet_batch_issue",
        idempotency_key=f"batch:{batch.pk}",
        reference=f"batch:{batch.pk}",
        memo=f"{plan.count} packets",
        postings=[Posting(budget, -plan.total), Posting(outstanding, plan.total)],
    )


def _generate(
    *,
    batch: PacketBatch,
    plan: Plan,
    campaign: Campaign,
    rule: EarnRule,
    now: datetime,
    chunk_size: int,
    progress: Progress | None,
) -> PacketBatch:
    """Write the batch's packets and its reservation. Runs inside the caller's transaction, batch row locked."""
    tail = _row_tail(
        batch=batch, rule=rule, campaign=campaign, issued_at=now, expires_at=now + timedelta(days=batch.valid_days)
    )
    skip_fk_triggers = _skip_fk_triggers_allowed()
    _copy_packets(plan=plan, tail=tail, chunk_size=chunk_size, progress=progress, skip_fk_triggers=skip_fk_triggers)
    _reserve(batch=batch, campaign=campaign, rule=rule, plan=plan, check_references=skip_fk_triggers)
    batch.status = PacketBatch.Status.DONE
    batch.total = plan.total
    batch.generated = plan.count
    batch.error = ""
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "total", "generated", "error", "finished_at"])
    return batch


def packets_generate(
    *,
    campaign: Campaign,
    count: int,
    rule: EarnRule | None = None,
    tiers: str = "",
    valid_days: int | None = None,
    created_by: User | None = None,
    chunk_size: int = CHUNK_SIZE,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> PacketBatch:
    """Generate `count` unclaimed packets now, in this process, in one transaction (the management command).
    Refused — with nothing written — when the input, the campaign, its packet limit or its budget do not allow it."""
    now = now or timezone.now()
    rule = rule or _default_rule(campaign)
    valid_days = valid_days or rule.valid_days
    _validate(campaign=campaign, rule=rule, count=count, valid_days=valid_days, now=now)
    plan = batch_plan(rule=rule, tiers=tiers, count=count)
    _precheck(campaign=campaign, plan=plan)
    with transaction.atomic():
        batch = PacketBatch.objects.create(
            campaign=campaign,
            earn_rule=rule,
            count=count,
            tiers=tiers.strip(),
            valid_days=valid_days,
            created_by=created_by,
            status=PacketBatch.Status.RUNNING,
        )
        return _generate(
            batch=batch, plan=plan, campaign=campaign, rule=rule, now=now, chunk_size=chunk_size, progress=progress
        )


# --- the console path: a batch row first, then a Celery task that generates it ----------------------------------


def batch_request(
    *,
    campaign: Campaign,
    count: int,
    rule: EarnRule | None = None,
    tiers: str = "",
    valid_days: int | None = None,
    created_by: User | None = None,
) -> PacketBatch:
    """Record a batch to generate (status pending) and publish its task when this transaction commits.
    Input and the budget are checked now, so the console refuses at once what the task would refuse."""
    now = timezone.now()
    rule = rule or _default_rule(campaign)
    valid_days = valid_days or rule.valid_days
    _validate(campaign=campaign, rule=rule, count=count, valid_days=valid_days, now=now)
    tiers = tiers.strip()
    parsed = _tiers(rule, tiers)
    # The exact total is drawn by the task; refuse now what cannot fit even at the cheapest tier.
    cheapest = min((t.amount for t in parsed), default=rule.packet_amount)
    _precheck(campaign=campaign, plan=Plan(amounts=[cheapest], picks=None, total=cheapest * count, count=count))
    batch = PacketBatch.objects.create(
        campaign=campaign, earn_rule=rule, count=count, tiers=tiers, valid_days=valid_days, created_by=created_by
    )
    transaction.on_commit(lambda: generate_batch_task.delay(batch.pk))
    return batch


def _progress_key(batch_id: int) -> str:
    return f"packets:batch:{batch_id}:generated"


def _cache_progress(batch_id: int) -> Progress:
    last = [0.0]

    def report(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - last[0] < 0.5:
            return
        last[0] = now
        try:
            cache.set(_progress_key(batch_id), done, PROGRESS_TTL)
        except Exception:  # progress is cosmetic: a cache outage must not fail the batch
            logger.warning("packet batch %s: could not report progress", batch_id, exc_info=True)

    return report


def _lock_contended(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.errors.LockNotAvailable) or isinstance(
        exc.__cause__, psycopg.errors.LockNotAvailable
    )


def batch_run(*, batch_id: int, chunk_size: int = CHUNK_SIZE) -> PacketBatch:
    """Generate a requested batch. Safe to run twice, and concurrently: a batch that is done (or refused) is left
    alone, and a batch another worker is generating (its row locked) is skipped. A worker that died mid-batch rolled
    everything back, so the redelivered task starts it again from nothing."""
    with connection.cursor() as cursor:  # shown on the console at once; never waits for a worker holding the row
        cursor.execute(
            """UPDATE packets_packetbatch SET status = %(running)s WHERE id = (
                   SELECT id FROM packets_packetbatch WHERE id = %(id)s AND status = %(pending)s
                   FOR UPDATE SKIP LOCKED)""",
            {"id": batch_id, "running": PacketBatch.Status.RUNNING, "pending": PacketBatch.Status.PENDING},
        )
    try:
        with transaction.atomic():
            batch = (
                PacketBatch.objects.select_for_update(nowait=True, of=("self",))
                .select_related("campaign", "earn_rule")
                .get(pk=batch_id)
            )
            if batch.status in (PacketBatch.Status.DONE, PacketBatch.Status.FAILED):
                return batch
            now = timezone.now()
            _validate(
                campaign=batch.campaign, rule=batch.earn_rule, count=batch.count, valid_days=batch.valid_days, now=now
            )
            plan = batch_plan(rule=batch.earn_rule, tiers=batch.tiers, count=batch.count)
            _precheck(campaign=batch.campaign, plan=plan)
            return _generate(
                batch=batch,
                plan=plan,
                campaign=batch.campaign,
                rule=batch.earn_rule,
                now=now,
                chunk_size=chunk_size,
                progress=_cache_progress(batch_id),
            )
    except ApplicationError as exc:
        # Refused: nothing of the batch was written; record why, for the console.
        _batch_failed(batch_id, exc.message)
    except Exception as exc:
        if _lock_contended(exc):
            return PacketBatch.objects.get(pk=batch_id)  # another worker has it
        _batch_failed(batch_id, f"Generation failed ({type(exc).__name__}); nothing was written.")
        raise
    return PacketBatch.objects.get(pk=batch_id)


def _batch_failed(batch_id: int, message: str) -> None:
    PacketBatch.objects.filter(pk=batch_id).exclude(status=PacketBatch.Status.DONE).update(
        status=PacketBatch.Status.FAILED, error=message[:300], finished_at=timezone.now()
    )


@shared_task(acks_late=True)
def generate_batch_task(batch_id: int) -> str:
    return batch_run(batch_id=batch_id).status


def batch_progress(batch: PacketBatch) -> dict:
    """What the console's progress page polls."""
    if batch.status == PacketBatch.Status.DONE:
        generated = batch.generated
    elif batch.status == PacketBatch.Status.RUNNING:
        try:
            generated = int(cache.get(_progress_key(batch.pk)) or 0)
        except Exception:  # a cache outage shows no progress, not an error page
            generated = 0
    else:
        generated = 0
    return {
        "id": batch.pk,
        "status": batch.status,
        "count": batch.count,
        "generated": generated,
        "percent": round(100 * generated / batch.count, 1) if batch.count else 0,
        "total": str(batch.total) if batch.total is not None else None,
        "error": batch.error,
        "finished_at": batch.finished_at.isoformat() if batch.finished_at else None,
    }


# --- export -----------------------------------------------------------------------------------------------------

EXPORT_HEADER = ["code", "amount", "min_spend", "expires_at", "claim_link"]


def batch_csv_lines(batch: PacketBatch, *, base_url: str = "", page: int = 5000) -> Iterator[str]:
    """The batch as CSV lines, read in pages by primary key: constant memory, no long-lived cursor."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def line(row) -> str:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        return buffer.getvalue()

    yield line(EXPORT_HEADER)
    tz = timezone.get_current_timezone()
    last = 0
    while True:
        rows = list(
            Packet.objects.filter(batch_id=batch.pk, pk__gt=last)
            .order_by("pk")
            .values_list("pk", "code", "amount", "min_spend", "expires_at")[:page]
        )
        if not rows:
            return
        for _pk, code, amount, min_spend, expires_at in rows:
            yield line([code, amount, min_spend, expires_at.astimezone(tz).isoformat(), base_url + claim_url(code)])
        last = rows[-1][0]


# --- claim ------------------------------------------------------------------------------------------------------


def _count_for_user(*, campaign: Campaign, user_id: int) -> bool:
    """Count one more packet held by this user in this campaign, refusing past the per-user limit in the same
    statement (concurrent claims can never pass it together). True when counted."""
    with connection.cursor() as cursor:
        cursor.execute(
            """INSERT INTO campaigns_campaignusercounter (campaign_id, user_id, packets) VALUES (%(c)s, %(u)s, 1)
               ON CONFLICT (campaign_id, user_id) DO UPDATE SET packets = campaigns_campaignusercounter.packets + 1
               WHERE %(limit)s = 0 OR campaigns_campaignusercounter.packets < %(limit)s
               RETURNING packets""",
            {"c": campaign.pk, "u": user_id, "limit": campaign.per_user_limit},
        )
        return cursor.fetchone() is not None


def _packet_lock(code: str) -> Packet | None:
    # OF self: lock the packet row only; the campaign row (joined for is_live) stays free for orders and claims.
    return Packet.objects.select_for_update(of=("self",)).select_related("campaign").filter(code=code).first()


@transaction.atomic
def packet_claim(*, code: str, user: User, context: EarnContext = NO_CONTEXT, now: datetime | None = None) -> Packet:
    """Make `user` the holder of the unclaimed packet with this code. Claiming one's own packet again returns it.

    The packet row is locked first, so of many concurrent claimers exactly one wins and the others see it claimed.
    """
    now = now or timezone.now()
    canonical = codes.normalize(code or "")
    packet = _packet_lock(canonical) if canonical else None
    if packet is None:
        raise PacketNotFound(_("No packet has this code."))
    if packet.holder_id == user.pk:
        return packet
    if packet.holder_id is not None:
        raise PacketAlreadyClaimed(_("This packet has already been claimed."))
    if packet.status != Packet.Status.ISSUED:
        raise PacketUnusable(_("The packet is %(status)s.") % {"status": packet.status}, code=f"packet_{packet.status}")
    if packet.expires_at <= now:
        raise PacketUnusable(_("The packet has expired."), code="packet_expired")
    if not packet.campaign.is_live(now):
        raise PacketUnusable(str(campaign_errors.CAMPAIGN_NOT_LIVE), code="campaign_not_active")
    if not _count_for_user(campaign=packet.campaign, user_id=user.pk):
        raise PacketUnusable(
            _("You already hold the most packets this campaign allows (%(limit)s).")
            % {"limit": packet.campaign.per_user_limit},
            code="per_user_limit_reached",
            details={"limit": packet.campaign.per_user_limit},
        )
    earning_limits_count(campaign_id=packet.campaign_id, user_id=user.pk, context=context, path=EARN, now=now)
    Packet.objects.filter(pk=packet.pk).update(holder=user)
    packet.holder = user
    earning_event_record(kind="claim", packet=packet, user=user, context=context, at=now)
    return packet
