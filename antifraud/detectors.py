"""Fraud detectors: plain functions over recent activity that write explained findings for reviewers.

Each detector looks back `days` (default `ANTIFRAUD_DETECT_WINDOW_DAYS`) from `now`, runs a few SQL aggregates over
that window, and writes one `Finding` per suspicious subject through `finding_record`. The Celery tasks in
antifraud/tasks.py run them every `ANTIFRAUD_DETECT_SECONDS` (config/settings.py, CELERY_BEAT_SCHEDULE).

Detectors (kind — fingerprint — what it means):

* `collusion` — ``merchant:<id>`` — shoppers of a merchant's rebate-earning orders share a device, an IP or a WeChat
  payout account with one of the merchant's staff (or are staff themselves). Sharing alone is enough once the linked
  shoppers have ≥ `ANTIFRAUD_COLLUSION_MIN_SHARED_ORDERS` (2) rebate-earning orders; when the merchant's rebate-earning
  redemptions are also concentrated (top `ANTIFRAUD_COLLUSION_TOP_SHOPPERS` (3) shoppers hold ≥
  `ANTIFRAUD_COLLUSION_TOP_SHARE` (60) % of ≥ `ANTIFRAUD_COLLUSION_MIN_REDEMPTIONS` (10)), a linked top shopper is
  enough. Concentration alone never writes a finding: honest regulars exist.
* `self_referral` — ``<inviter id>:<invitee id>`` — an invitee shares a device or a payout account with its inviter,
  or signed up from an IP the inviter earned from within `ANTIFRAUD_SELF_REFERRAL_MINUTES` (30) minutes.
* `referral_farm` — ``inviter:<id>`` — ≥ `ANTIFRAUD_REFERRAL_FARM_MIN_INVITEES` (3) of one inviter's recent invitees
  used one device, or one IP. IPs are compared exactly by default; set `ANTIFRAUD_REFERRAL_FARM_IPV4_PREFIX` to 24 to
  group IPv4 addresses by /24 (this also groups unrelated neighbours behind a carrier's NAT, hence off by default).
* `circular_flow` — ``ring:<sorted ids>`` — A issued a packet that B spent and B one that A spent (or A→B→C→A), all
  spent in the window.
* `scripted_trail` — ``trail:<signature>`` — ≥ `ANTIFRAUD_SCRIPTED_TRAIL_MIN_ACCOUNTS` (3) accounts redeemed packets
  after the same trail shape (steps and whole-second gaps) in the window: at checkout only the third replay onwards
  scores as scripted; the finding holds what the first ones earned.
* `packet_farm` — ``device:<id>:<day>`` / ``ip:<ip>:<day>`` — ≥ `ANTIFRAUD_PACKET_FARM_MIN_ACCOUNTS` (3) accounts
  earned or claimed packets from one device or one IP on one day (in TIME_ZONE). For an IP only accounts opened in the
  last `ANTIFRAUD_PACKET_FARM_IP_ACCOUNT_DAYS` (7) days count (0: every account), except those that earned a packet
  with a purchase of their own (not refunded) in the window, and only when they outnumber the established accounts
  that earned, claimed or spent from the IP in the window. A farm behind one connection is fresh accounts collecting
  free packets (sign-up, codes, check-ins); an office, campus or carrier NAT has its regulars, and its newcomers buy
  things — paying ≥ a campaign's threshold for each farmed account would cost a farm more than the packets bring
  (see the fraud corpus in docs/ANTIFRAUD.md, "Evaluation").

What "sharing" means, for every detector: a device = a `DeviceUse` row (any time), or the device of an earning event
or an order in the window; an IP = the IP of an earning event or an order in the window, except IPs from which more
than `ANTIFRAUD_SHARED_IP_MAX_ACCOUNTS` (20) accounts earned in the window (a shop's Wi-Fi, a carrier's NAT: sharing
those proves nothing about two accounts); a payout account = a WeChat openid linked to the user (`WechatOpenId`) or
paid to by one of its payouts (except `WECHATPAY_TEST_OPENID`, the demo's shared test openid). Devices and IPs on the
allow list (`ListEntry`) are never evidence. Nor is the earning event of a share packet, for its inviter: it carries
the IP and device of the sign-up that earned it (the limits count it there), not the inviter's own.

Re-runs and reviewers' decisions (`finding_record`): a finding is keyed by (kind, fingerprint). A re-run updates it in
place (explanation, evidence, last_seen_at); `user_ids` and `evidence["refs"]` (the concrete things the finding
counted: orders, packets, devices, IPs, accounts) accumulate over runs. The evidence *grew* when a run sees an account
or a ref never counted before. A dismissed finding stays dismissed unless the evidence grew: then it is reopened, with
a note at the head of its explanation — a reviewer dismissed what they saw, not what came after. Findings are never
closed by the detectors; a confirmed one stays confirmed.

Holding money (`rebates_hold_for_finding`): when a finding is new or grew, every pending rebate of its accounts (and,
for collusion, scripted trails and packet farms, every leg the orders it names earned — the merchant's included) is
held for review with a `ReviewAction`. Money never moves here. A rebate a reviewer released (a `release` review
action) is not held again automatically.

Explanations are operator-facing English, written once at detection time (like the ledger's memos).

For the risk scoring: `open_findings_for(user_ids=..., merchant_id=...)`.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import Device, DeviceUse, Merchant, MerchantStaff, User
from campaigns.models import ReferralReward
from packets.models import Order, Packet, Redemption, Refund
from rebates.models import Rebate
from rebates.payouts.models import Payout, WechatOpenId

from .models import EarningEvent, Finding, ListEntry, ReviewAction, RiskAssessment

log = logging.getLogger(__name__)

DEFAULTS = {
    "DETECT_WINDOW_DAYS": 7,
    "COLLUSION_MIN_REDEMPTIONS": 10,
    "COLLUSION_TOP_SHOPPERS": 3,
    "COLLUSION_TOP_SHARE": 60,  # percent
    "COLLUSION_MIN_SHARED_ORDERS": 2,
    "SHARED_IP_MAX_ACCOUNTS": 20,
    "SELF_REFERRAL_MINUTES": 30,
    "REFERRAL_FARM_MIN_INVITEES": 3,
    "REFERRAL_FARM_IPV4_PREFIX": 32,
    "PACKET_FARM_MIN_ACCOUNTS": 3,
    "PACKET_FARM_IP_ACCOUNT_DAYS": 7,
    "SCRIPTED_TRAIL_MIN_ACCOUNTS": 3,
}

T = {
    "ee": EarningEvent._meta.db_table,
    "du": DeviceUse._meta.db_table,
    "ms": MerchantStaff._meta.db_table,
    "user": User._meta.db_table,
    "packet": Packet._meta.db_table,
    "order": Order._meta.db_table,
    "rd": Redemption._meta.db_table,
    "rb": Rebate._meta.db_table,
    "wo": WechatOpenId._meta.db_table,
    "po": Payout._meta.db_table,
    "le": ListEntry._meta.db_table,
    "ra": ReviewAction._meta.db_table,
    "as": RiskAssessment._meta.db_table,
    "rr": ReferralReward._meta.db_table,
    "refund": Refund._meta.db_table,
}


def setting(name: str):
    """`settings.ANTIFRAUD_<name>`, or the documented default."""
    return getattr(settings, f"ANTIFRAUD_{name}", DEFAULTS[name])


def _window(days: int | None, now: datetime | None) -> dict:
    now = now or timezone.now()
    days = setting("DETECT_WINDOW_DAYS") if days is None else days
    return {"since": now - timedelta(days=days), "now": now, "days": days}


def _rows(sql: str, params: dict) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


# --- the one writer of findings ------------------------------------------------------------------------------------


def finding_record(
    *,
    kind: str,
    fingerprint: str,
    user_ids: Iterable[int],
    merchant_id: int | None,
    explanation: str,
    evidence: dict,
) -> tuple[Finding, bool]:
    """Create or update the finding (kind, fingerprint). Returns it and whether it is new or its evidence grew — in
    which case the pending rebates of its accounts are held (unless it stays dismissed, see the module docstring).
    Safe to run concurrently and repeatedly: the row is locked, a rerun with the same evidence changes only
    last_seen_at."""
    user_ids = sorted(set(user_ids))
    refs = sorted(set(evidence.get("refs", [])))
    with transaction.atomic():
        finding = Finding.objects.select_for_update().filter(kind=kind, fingerprint=fingerprint).first()
        if finding is None:
            try:
                with transaction.atomic():
                    finding = Finding.objects.create(
                        kind=kind,
                        fingerprint=fingerprint,
                        merchant_id=merchant_id,
                        user_ids=user_ids,
                        explanation=explanation,
                        evidence={**evidence, "refs": refs},
                    )
            except IntegrityError:  # written by a concurrent run since we looked
                finding = Finding.objects.select_for_update().get(kind=kind, fingerprint=fingerprint)
            else:
                rebates_hold_for_finding(finding_id=finding.pk)
                return finding, True
        reviewed_explanation = finding.explanation
        seen_refs = set(finding.evidence.get("refs", []))
        new_users = set(user_ids) - set(finding.user_ids)
        new_refs = set(refs) - seen_refs
        grew = bool(new_users or new_refs)
        finding.user_ids = sorted(set(finding.user_ids) | set(user_ids))
        finding.evidence = {**evidence, "refs": sorted(seen_refs | set(refs))}
        finding.explanation = explanation
        if merchant_id and not finding.merchant_id:
            finding.merchant_id = merchant_id
        if grew and finding.status == Finding.Status.DISMISSED:
            finding.status = Finding.Status.OPEN
            finding.evidence["reopened_at"] = timezone.now().isoformat()
            finding.explanation = (
                f"Reopened after it was dismissed: {len(new_users)} new account(s) and {len(new_refs)} new item(s) "
                f"of evidence since. {explanation}"
            )
        elif finding.status == Finding.Status.DISMISSED:
            finding.explanation = reviewed_explanation  # stays dismissed: keep what the reviewer read
        finding.save(update_fields=["user_ids", "evidence", "explanation", "merchant", "status", "last_seen_at"])
        if grew:
            rebates_hold_for_finding(finding_id=finding.pk)
        return finding, grew


def _not_released(target_sql: str) -> str:
    return f"""AND NOT EXISTS (SELECT 1 FROM {T["ra"]} ra WHERE ra.target = {target_sql} AND ra.action = 'release')"""


def rebates_hold_for_finding(*, finding_id: int, respect_releases: bool = True) -> int:
    """Hold for review every pending rebate of the finding's accounts — and, for a finding naming orders
    (`evidence["order_ids"]`: collusion, scripted trails, packet farms), every rebate leg those orders earned (the
    merchant's issuer leg included: an order in question earned nothing yet) — and every pending referral-program
    reward whose inviter or invitee it names. Each hold is recorded as a `ReviewAction(action="hold", actor=None)`.
    Returns how many were held now; those already held, credited or reversed are left alone, so a second call holds
    nothing. A dismissed finding holds nothing. With `respect_releases`, what a reviewer released earlier is not held
    again.

    Never moves money: a held rebate or reward stays pending, and the confirm tasks skip it (rebates/services.py,
    campaigns/programs/referral.py)."""
    with transaction.atomic():
        finding = Finding.objects.get(pk=finding_id)
        if finding.status == Finding.Status.DISMISSED:
            return 0
        order_ids = [int(pk) for pk in finding.evidence.get("order_ids", [])]
        released = _not_released("'rebate:' || rb.id") if respect_releases else ""
        # Candidates through the beneficiary and redemption indexes (an OR of the two would scan every rebate) ...
        candidates = f"""
            SELECT rb.id FROM {T["rb"]} rb WHERE rb.beneficiary_user_id = ANY(%(users)s)
            UNION
            SELECT rb.id FROM {T["rb"]} rb JOIN {T["rd"]} rd ON rd.id = rb.redemption_id
            WHERE rd.order_id = ANY(%(orders)s)"""
        # ... then locked in primary-key order (as everywhere in the project), the conditions checked under the lock.
        ids = [
            row[0]
            for row in _rows(
                f"""SELECT rb.id FROM {T["rb"]} rb
                    WHERE rb.id IN ({candidates}) AND rb.status = 'pending' AND NOT rb.held_for_review {released}
                    ORDER BY rb.id FOR UPDATE OF rb""",
                {"users": list(finding.user_ids), "orders": order_ids},
            )
        ]
        # Referral-program rewards the accounts earned as inviters, or their invitees' orders earned.
        referral_released = _not_released("'referral_reward:' || rr.id") if respect_releases else ""
        rewards = [
            row[0]
            for row in _rows(
                f"""SELECT rr.id FROM {T["rr"]} rr
                    WHERE (rr.inviter_id = ANY(%(users)s) OR rr.invitee_id = ANY(%(users)s))
                      AND rr.status = 'pending' AND NOT rr.held_for_review {referral_released}
                    ORDER BY rr.id FOR UPDATE OF rr""",
                {"users": list(finding.user_ids)},
            )
        ]
        if not ids and not rewards:
            return 0
        Rebate.objects.filter(pk__in=ids).update(held_for_review=True)
        ReferralReward.objects.filter(pk__in=rewards).update(held_for_review=True)
        reason = f"finding #{finding.pk}: {finding.kind}"
        targets = [f"rebate:{pk}" for pk in ids] + [f"referral_reward:{pk}" for pk in rewards]
        ReviewAction.objects.bulk_create(
            [ReviewAction(action=ReviewAction.Action.HOLD, actor=None, target=t, reason=reason) for t in targets]
        )
    log.info("finding #%s held %d rebate(s), %d referral reward(s)", finding_id, len(ids), len(rewards))
    return len(ids) + len(rewards)


# --- for the risk scoring --------------------------------------------------------------------------------------------


def open_findings_for(
    *, user_ids: Iterable[int] = (), merchant_id: int | None = None, statuses: Iterable[str] | None = None
) -> QuerySet[Finding]:
    """Findings still standing (open or confirmed; pass `statuses` to narrow) that name any of `user_ids` (GIN index
    on user_ids) or, for `merchant_id`, a collusion finding about that merchant. Newest first."""
    statuses = list(statuses or (Finding.Status.OPEN, Finding.Status.CONFIRMED))
    user_ids = [int(pk) for pk in user_ids]
    involved = Q(user_ids__overlap=user_ids) if user_ids else Q(pk__in=[])
    if merchant_id:
        involved |= Q(merchant_id=merchant_id, kind=Finding.Kind.COLLUSION)
    return Finding.objects.filter(involved, status__in=statuses).order_by("-last_seen_at", "-pk")


# --- shared SQL: who shares what ------------------------------------------------------------------------------------

_ALLOWED_IP = f"""EXISTS (SELECT 1 FROM {T["le"]} le
                          WHERE le.list = 'allow' AND le.kind = 'ip' AND le.value = host({{ip}}))"""
_ALLOWED_DEVICE = f"""EXISTS (SELECT 1 FROM {T["le"]} le
                              WHERE le.list = 'allow' AND le.kind = 'device' AND le.value = ({{device}})::text)"""
_KINDS = "('issue', 'claim', 'redeem')"
# An earning event is evidence of where its account acted — except a share packet's: the inviter receives it when
# someone signs up through the inviter's link, and it is recorded with that sign-up's IP and device (the limits count
# it there, against a farm signing up many accounts from one phone); they are the invitee's, not the inviter's.
_OWN_EVENT = f"""NOT EXISTS (SELECT 1 FROM {T["packet"]} sp WHERE sp.id = ee.packet_id AND sp.channel = 'share')"""


def _identity_ctes() -> str:
    """CTEs `devices(user_id, device_id)` and `ips(user_id, ip)` of the users in a CTE `people(user_id)` defined
    before them (through the user / shopper indexes)."""
    return f"""
    devices AS (
        SELECT du.user_id, du.device_id FROM {T["du"]} du JOIN people USING (user_id)
        UNION
        SELECT ee.user_id, ee.device_id FROM {T["ee"]} ee JOIN people USING (user_id)
        WHERE ee.device_id IS NOT NULL AND ee.at >= %(since)s AND ee.at <= %(now)s AND {_OWN_EVENT}
        UNION
        SELECT o.shopper_id, o.device_id FROM {T["order"]} o JOIN people ON people.user_id = o.shopper_id
        WHERE o.device_id IS NOT NULL AND o.created_at >= %(since)s AND o.created_at <= %(now)s
    ),
    ips AS (
        SELECT ee.user_id, ee.ip FROM {T["ee"]} ee JOIN people USING (user_id)
        WHERE ee.ip IS NOT NULL AND ee.at >= %(since)s AND ee.at <= %(now)s AND {_OWN_EVENT}
        UNION
        SELECT o.shopper_id, o.ip FROM {T["order"]} o JOIN people ON people.user_id = o.shopper_id
        WHERE o.ip IS NOT NULL AND o.created_at >= %(since)s AND o.created_at <= %(now)s
    )"""


def _shared_links(pairs_sql: str, params: dict, *, vias: tuple[str, ...] = ("device", "ip", "payout")) -> list[tuple]:
    """(grp, a, b, via, value) for every pair (grp, a, b) of `pairs_sql` whose accounts share a device, an IP or a
    payout account (see the module docstring), and (grp, a, a, "same", "") for a pair of one account with itself.

    `b` is the small side (staff, inviters): their identifiers are collected first, then who else holds one of them
    is looked up through the device / IP / openid of those identifiers — never every identifier of every `a`."""
    window = "{t}.at >= %(since)s AND {t}.at <= %(now)s AND " + _OWN_EVENT
    order_window = "o.created_at >= %(since)s AND o.created_at <= %(now)s"
    ctes = {
        "device": f"""
        b_devices AS (
            SELECT du.user_id, du.device_id FROM {T["du"]} du JOIN anchors USING (user_id)
            UNION
            SELECT ee.user_id, ee.device_id FROM {T["ee"]} ee JOIN anchors USING (user_id)
            WHERE ee.device_id IS NOT NULL AND {window.format(t="ee")}
            UNION
            SELECT o.shopper_id, o.device_id FROM {T["order"]} o JOIN anchors ON anchors.user_id = o.shopper_id
            WHERE o.device_id IS NOT NULL AND {order_window}
        ),
        a_devices AS (
            SELECT du.user_id, du.device_id FROM {T["du"]} du WHERE du.device_id IN (SELECT device_id FROM b_devices)
            UNION
            SELECT ee.user_id, ee.device_id FROM {T["ee"]} ee
            WHERE ee.device_id IN (SELECT device_id FROM b_devices) AND {window.format(t="ee")}
            UNION
            SELECT o.shopper_id, o.device_id FROM {T["order"]} o
            WHERE o.device_id IN (SELECT device_id FROM b_devices) AND {order_window}
        )""",
        "ip": f"""
        b_ips AS (
            SELECT ee.user_id, ee.ip FROM {T["ee"]} ee JOIN anchors USING (user_id)
            WHERE ee.ip IS NOT NULL AND {window.format(t="ee")}
            UNION
            SELECT o.shopper_id, o.ip FROM {T["order"]} o JOIN anchors ON anchors.user_id = o.shopper_id
            WHERE o.ip IS NOT NULL AND {order_window}
        ),
        busy_ips AS (
            SELECT ee.ip FROM {T["ee"]} ee
            WHERE ee.ip IN (SELECT ip FROM b_ips) AND {window.format(t="ee")}
            GROUP BY ee.ip HAVING count(DISTINCT ee.user_id) > %(busy_ip_accounts)s
        ),
        a_ips AS (
            SELECT ee.user_id, ee.ip FROM {T["ee"]} ee
            WHERE ee.ip IN (SELECT ip FROM b_ips) AND {window.format(t="ee")}
            UNION
            SELECT o.shopper_id, o.ip FROM {T["order"]} o JOIN members ON members.user_id = o.shopper_id
            WHERE o.ip IN (SELECT ip FROM b_ips) AND {order_window}
        )""",
        "payout": f"""
        b_payouts AS (
            SELECT wo.user_id, wo.openid FROM {T["wo"]} wo JOIN anchors USING (user_id)
            UNION
            SELECT po.beneficiary_id, po.openid FROM {T["po"]} po JOIN anchors ON anchors.user_id = po.beneficiary_id
            WHERE po.openid <> ''
        ),
        a_payouts AS (
            SELECT wo.user_id, wo.openid FROM {T["wo"]} wo WHERE wo.openid IN (SELECT openid FROM b_payouts)
            UNION
            SELECT po.beneficiary_id, po.openid FROM {T["po"]} po WHERE po.openid IN (SELECT openid FROM b_payouts)
        )""",
    }
    selects = {
        "device": f"""
        SELECT p.grp, p.a, p.b, 'device', x.device_id::text FROM pairs p
        JOIN a_devices x ON x.user_id = p.a
        JOIN b_devices y ON y.user_id = p.b AND y.device_id = x.device_id
        WHERE p.a <> p.b AND NOT {_ALLOWED_DEVICE.format(device="x.device_id")}""",
        "ip": f"""
        SELECT p.grp, p.a, p.b, 'ip', host(x.ip) FROM pairs p
        JOIN a_ips x ON x.user_id = p.a
        JOIN b_ips y ON y.user_id = p.b AND y.ip = x.ip
        WHERE p.a <> p.b AND x.ip NOT IN (SELECT ip FROM busy_ips) AND NOT {_ALLOWED_IP.format(ip="x.ip")}""",
        "payout": """
        SELECT p.grp, p.a, p.b, 'payout', x.openid FROM pairs p
        JOIN a_payouts x ON x.user_id = p.a
        JOIN b_payouts y ON y.user_id = p.b AND y.openid = x.openid
        WHERE p.a <> p.b AND x.openid <> %(test_openid)s""",
    }
    sql = f"""
    WITH pairs AS MATERIALIZED ({pairs_sql}),
    anchors AS (SELECT DISTINCT b AS user_id FROM pairs),
    members AS (SELECT DISTINCT a AS user_id FROM pairs),
    {",".join(ctes[via] for via in vias)}
    SELECT grp, a, b, 'same', '' FROM pairs WHERE a = b
    UNION {" UNION ".join(selects[via] for via in vias)}
    ORDER BY 1, 2, 3, 4, 5"""
    params = {
        **params,
        "busy_ip_accounts": setting("SHARED_IP_MAX_ACCOUNTS"),
        "test_openid": getattr(settings, "WECHATPAY_TEST_OPENID", "") or "",
    }
    return _rows(sql, params)


# --- labels for explanations ----------------------------------------------------------------------------------------


def _people(ids: Iterable[int]) -> dict[int, str]:
    ids = set(ids)
    found = {u.pk: f"#{u.pk} ({u})" for u in User.objects.filter(pk__in=ids)}
    return {pk: found.get(pk, f"#{pk}") for pk in ids}


def _devices(ids: Iterable[int]) -> dict[int, str]:
    return {pk: f"#{pk} ({fp})" for pk, fp in Device.objects.filter(pk__in=set(ids)).values_list("pk", "fingerprint")}


def _joined(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _link_words(via: str, value: str, devices: dict[int, str]) -> str:
    if via == "device":
        return f"device {devices.get(int(value), '#' + value)}"
    if via == "ip":
        return f"IP {value}"
    if via == "payout":
        return f"WeChat payout account {value}"
    return "the same account"


# --- 1. merchant–consumer collusion ---------------------------------------------------------------------------------

_REBATE_REDEMPTIONS = f"""
    SELECT DISTINCT o.id AS order_id, o.merchant_id, o.shopper_id
    FROM {T["ee"]} ee
    JOIN {T["rd"]} rd ON rd.packet_id = ee.packet_id
    JOIN {T["order"]} o ON o.id = rd.order_id
    WHERE ee.kind = 'redeem' AND ee.at >= %(since)s AND ee.at <= %(now)s
      AND EXISTS (SELECT 1 FROM {T["rb"]} rb WHERE rb.redemption_id = rd.id AND rb.status <> 'reversed')"""


def detect_collusion(
    *,
    days: int | None = None,
    now: datetime | None = None,
    min_redemptions: int | None = None,
    top_shoppers: int | None = None,
    top_share: int | None = None,
    min_shared_orders: int | None = None,
) -> list[Finding]:
    """Merchants whose rebate-earning shoppers share a device, IP or payout account with the merchant's staff (see
    the module docstring for the thresholds). Rebate-earning redemptions are those spent in the window (earning
    events of kind `redeem`) with a rebate that was not reversed."""
    params = _window(days, now)
    min_redemptions = min_redemptions or setting("COLLUSION_MIN_REDEMPTIONS")
    top_shoppers = top_shoppers or setting("COLLUSION_TOP_SHOPPERS")
    top_share = top_share or setting("COLLUSION_TOP_SHARE")
    min_shared_orders = min_shared_orders or setting("COLLUSION_MIN_SHARED_ORDERS")

    pairs_sql = f"""
        WITH red AS ({_REBATE_REDEMPTIONS})
        SELECT DISTINCT red.merchant_id AS grp, red.shopper_id AS a, ms.user_id AS b
        FROM red JOIN {T["ms"]} ms ON ms.merchant_id = red.merchant_id"""
    links: dict[int, dict[int, list[tuple[int, str, str]]]] = defaultdict(lambda: defaultdict(list))
    for merchant_id, shopper_id, staff_id, via, value in _shared_links(pairs_sql, params):
        links[merchant_id][shopper_id].append((staff_id, via, value))
    if not links:
        return []

    merchants, shoppers = zip(*[(m, s) for m, by_shopper in links.items() for s in by_shopper], strict=True)
    stats = _rows(
        f"""
        WITH red AS ({_REBATE_REDEMPTIONS} AND o.merchant_id = ANY(%(merchant_ids)s)),
        counts AS (
            SELECT merchant_id, shopper_id, count(*) AS n, array_agg(order_id ORDER BY order_id) AS orders
            FROM red GROUP BY merchant_id, shopper_id
        ),
        ranked AS (
            SELECT *, sum(n) OVER (PARTITION BY merchant_id) AS total,
                   row_number() OVER (PARTITION BY merchant_id ORDER BY n DESC, shopper_id) AS rank
            FROM counts
        )
        SELECT merchant_id, shopper_id, n, orders, total, rank FROM ranked
        WHERE rank <= %(top)s
           OR (merchant_id, shopper_id) IN (SELECT * FROM unnest(%(m)s::bigint[], %(s)s::bigint[]))
        ORDER BY merchant_id, rank""",
        {
            **params,
            "merchant_ids": list(set(merchants)),
            "top": top_shoppers,
            "m": list(merchants),
            "s": list(shoppers),
        },
    )
    by_merchant: dict[int, list[tuple]] = defaultdict(list)
    for row in stats:
        by_merchant[row[0]].append(row)

    findings = []
    for merchant_id, rows in by_merchant.items():
        total = int(rows[0][4])
        top = [(shopper, int(n)) for _m, shopper, n, _o, _t, rank in rows if rank <= top_shoppers]
        top_count = sum(n for _s, n in top)
        concentrated = total >= min_redemptions and top_count * 100 >= top_share * total
        linked = {
            shopper: (int(n), list(orders)) for _m, shopper, n, orders, _t, _r in rows if shopper in links[merchant_id]
        }
        linked_orders = sum(n for n, _orders in linked.values())
        linked_top = [s for s, _n in top if s in linked]
        if not (linked_orders >= min_shared_orders or (concentrated and linked_top)):
            continue
        findings.append(
            _collusion_finding(
                merchant_id=merchant_id,
                params=params,
                total=total,
                top=top,
                concentrated=concentrated,
                linked=linked,
                links={s: links[merchant_id][s] for s in linked},
                top_share_pct=round(100 * top_count / total) if total else 0,
            )
        )
    return findings


def _collusion_finding(*, merchant_id, params, total, top, concentrated, linked, links, top_share_pct) -> Finding:
    merchant = Merchant.objects.get(pk=merchant_id)
    staff_ids = {staff for shopper_links in links.values() for staff, _via, _value in shopper_links}
    people = _people([*linked, *staff_ids, *(s for s, _n in top)])
    devices = _devices(int(v) for ls in links.values() for _s, via, v in ls if via == "device")
    order_ids = sorted(pk for _n, orders in linked.values() for pk in orders)

    sentences = []
    if concentrated:
        sentences.append(
            f"{top_share_pct} % of the {total} rebate-earning redemptions at merchant “{merchant.name}” in the last "
            f"{params['days']} days went to {len(top)} shopper(s): "
            + _joined([f"{people[s]} ({n})" for s, n in top])
            + "."
        )
    for shopper, shopper_links in links.items():
        n = linked[shopper][0]
        if any(via == "same" for _s, via, _v in shopper_links):
            sentences.append(f"Shopper {people[shopper]} is staff of the merchant and earned rebates on {n} order(s).")
            continue
        shared = defaultdict(list)
        for staff, via, value in shopper_links:
            shared[staff].append(_link_words(via, value, devices))
        sentences.append(
            f"Shopper {people[shopper]} ({n} rebate-earning order(s)) shares "
            + "; ".join(f"{_joined(what)} with staff member {people[staff]}" for staff, what in shared.items())
            + "."
        )
    sentences.append(
        "A shop and its own people spending packets at the shop earn both rebate legs (the shop's and the shopper's) "
        "without real customers. Check whether these shoppers are the staff's own or related accounts."
    )
    if not concentrated:
        sentences.append(
            f"Redemptions are not concentrated ({total} in the window), so the shared details are the whole evidence."
        )
    evidence = {
        "window_days": params["days"],
        "redemptions": total,
        "top_shoppers": [{"user": s, "redemptions": n} for s, n in top],
        "top_share_pct": top_share_pct,
        "concentrated": concentrated,
        "links": [
            {"shopper": shopper, "staff": staff, "via": via, "value": value}
            for shopper, shopper_links in links.items()
            for staff, via, value in shopper_links
        ],
        "order_ids": order_ids,
        "refs": [f"order:{pk}" for pk in order_ids]
        + [f"{via}:{value}" for ls in links.values() for _s, via, value in ls if via != "same"],
    }
    finding, _changed = finding_record(
        kind=Finding.Kind.COLLUSION,
        fingerprint=f"merchant:{merchant_id}",
        user_ids=[*linked, *staff_ids],
        merchant_id=merchant_id,
        explanation=" ".join(sentences),
        evidence=evidence,
    )
    return finding


# --- 2. self-referral -----------------------------------------------------------------------------------------------

_RECENT_INVITEES = f"""
    SELECT u.id, u.invited_by_id FROM {T["user"]} u
    WHERE u.invited_by_id IS NOT NULL
      AND ((u.date_joined >= %(since)s AND u.date_joined <= %(now)s)
           OR u.id IN (SELECT ee.user_id FROM {T["ee"]} ee
                       WHERE ee.kind IN {_KINDS} AND ee.at >= %(since)s AND ee.at <= %(now)s))"""


def detect_self_referral(
    *, days: int | None = None, now: datetime | None = None, minutes: int | None = None
) -> list[Finding]:
    """Invitees (joined or active in the window) that share a device or a payout account with their inviter, or that
    signed up (were active within `minutes` of joining) from an IP their inviter earned from within `minutes`."""
    params = _window(days, now)
    minutes = minutes or setting("SELF_REFERRAL_MINUTES")
    found: dict[tuple[int, int], list[tuple[str, str]]] = defaultdict(list)

    pairs_sql = f"SELECT NULL::bigint AS grp, inv.id AS a, inv.invited_by_id AS b FROM ({_RECENT_INVITEES}) inv"
    for _grp, invitee, inviter, via, value in _shared_links(pairs_sql, params, vias=("device", "payout")):
        found[(inviter, invitee)].append((via, value))

    activity = f"""
        SELECT ee.user_id, ee.ip, ee.at FROM {T["ee"]} ee WHERE ee.user_id = {{user}} AND ee.ip IS NOT NULL
          AND ee.at BETWEEN {{start}} AND {{end}} AND {_OWN_EVENT}
        UNION ALL
        SELECT o.shopper_id, o.ip, o.created_at FROM {T["order"]} o WHERE o.shopper_id = {{user}} AND o.ip IS NOT NULL
          AND o.created_at BETWEEN {{start}} AND {{end}}"""
    span = "make_interval(mins => %(minutes)s)"
    invitee_at_signup = activity.format(user="i.id", start="i.date_joined", end=f"i.date_joined + {span}")
    inviter_around = activity.format(
        user="i.invited_by_id", start=f"i.date_joined - {span}", end=f"i.date_joined + {span}"
    )
    signups = _rows(
        f"""
        SELECT DISTINCT i.id, i.invited_by_id, host(mine.ip)
        FROM {T["user"]} i
        CROSS JOIN LATERAL ({invitee_at_signup}) mine
        CROSS JOIN LATERAL ({inviter_around}) theirs
        WHERE i.invited_by_id IS NOT NULL AND i.date_joined >= %(since)s AND i.date_joined <= %(now)s
          AND theirs.ip = mine.ip AND NOT {_ALLOWED_IP.format(ip="mine.ip")}""",
        {**params, "minutes": minutes},
    )
    for invitee, inviter, ip in signups:
        found[(inviter, invitee)].append(("signup_ip", ip))

    findings = []
    for (inviter, invitee), links in sorted(found.items()):
        people = _people([inviter, invitee])
        devices = _devices(int(v) for via, v in links if via == "device")
        what = []
        for via, value in links:
            if via == "signup_ip":
                what.append(
                    f"{people[invitee]} signed up from IP {value}, which {people[inviter]} earned from within "
                    f"{minutes} minutes of that signup"
                )
            else:
                what.append(f"they share {_link_words(via, value, devices)}")
        explanation = (
            f"Account {people[invitee]} was invited by {people[inviter]}, and "
            + "; ".join(what)
            + ". Both accounts are probably one person collecting the referral rewards of inviting themselves."
        )
        finding, _changed = finding_record(
            kind=Finding.Kind.SELF_REFERRAL,
            fingerprint=f"{inviter}:{invitee}",
            user_ids=[inviter, invitee],
            merchant_id=None,
            explanation=explanation,
            evidence={
                "window_days": params["days"],
                "inviter": inviter,
                "invitee": invitee,
                "links": [{"via": via, "value": value} for via, value in links],
                "refs": [f"{via}:{value}" for via, value in links],
            },
        )
        findings.append(finding)
    return findings


# --- 3. referral farm -----------------------------------------------------------------------------------------------


def detect_referral_farms(
    *,
    days: int | None = None,
    now: datetime | None = None,
    min_invitees: int | None = None,
    ipv4_prefix: int | None = None,
) -> list[Finding]:
    """Inviters of ≥ `min_invitees` recent invitees (joined or active in the window) that used one device, or one IP
    (IPv4 grouped by `ipv4_prefix`, default exact)."""
    params = _window(days, now)
    min_invitees = min_invitees or setting("REFERRAL_FARM_MIN_INVITEES")
    prefix = ipv4_prefix or setting("REFERRAL_FARM_IPV4_PREFIX")

    def ip_key(col: str) -> str:
        return (
            f"CASE WHEN family({col}) = 4 AND %(prefix)s < 32 THEN network(set_masklen({col}, %(prefix)s))::text "
            f"ELSE host({col}) END"
        )

    rows = _rows(
        f"""
        WITH inv AS ({_RECENT_INVITEES}),
        people AS (SELECT id AS user_id FROM inv),
        {_identity_ctes()},
        marks AS (
            SELECT inv.invited_by_id AS inviter, inv.id AS invitee, 'device' AS via, d.device_id::text AS value
            FROM inv JOIN devices d ON d.user_id = inv.id
            WHERE NOT {_ALLOWED_DEVICE.format(device="d.device_id")}
            UNION
            SELECT inv.invited_by_id, inv.id, 'ip', {ip_key("i.ip")}
            FROM inv JOIN ips i ON i.user_id = inv.id
            WHERE NOT {_ALLOWED_IP.format(ip="i.ip")}
        )
        SELECT inviter, via, value, array_agg(DISTINCT invitee ORDER BY invitee) FROM marks
        GROUP BY inviter, via, value HAVING count(DISTINCT invitee) >= %(min_invitees)s
        ORDER BY inviter, via, value""",
        {**params, "prefix": prefix, "min_invitees": min_invitees},
    )
    groups: dict[int, list[tuple[str, str, list[int]]]] = defaultdict(list)
    for inviter, via, value, invitees in rows:
        groups[inviter].append((via, value, list(invitees)))

    findings = []
    for inviter, shared in groups.items():
        invitees = sorted({pk for _via, _value, members in shared for pk in members})
        people = _people([inviter, *invitees])
        devices = _devices(int(value) for via, value, _m in shared if via == "device")
        sentences = [
            f"{len(members)} accounts invited by {people[inviter]} used {_link_words(via, value, devices)}: "
            + _joined([people[pk] for pk in members])
            + "."
            for via, value, members in shared
        ]
        explanation = (
            " ".join(sentences)
            + f" Invitees of the last {params['days']} days who share one phone or one connection are likely "
            "accounts made by one person to collect the inviter's referral rewards."
        )
        finding, _changed = finding_record(
            kind=Finding.Kind.REFERRAL_FARM,
            fingerprint=f"inviter:{inviter}",
            user_ids=[inviter, *invitees],
            merchant_id=None,
            explanation=explanation,
            evidence={
                "window_days": params["days"],
                "inviter": inviter,
                "invitees": invitees,
                "ipv4_prefix": prefix,
                "shared": [{"via": via, "value": value, "invitees": members} for via, value, members in shared],
                "refs": [f"user:{pk}" for pk in invitees] + [f"{via}:{value}" for via, value, _m in shared],
            },
        )
        findings.append(finding)
    return findings


# --- 4. circular packet flows ---------------------------------------------------------------------------------------


def detect_circular_flows(*, days: int | None = None, now: datetime | None = None) -> list[Finding]:
    """Rings of two or three accounts where each issued a packet the next one spent, all spent in the window."""
    params = _window(days, now)
    rows = _rows(
        f"""
        WITH edges AS (
            SELECT DISTINCT p.issuer_user_id AS a, p.holder_id AS b
            FROM {T["ee"]} ee JOIN {T["packet"]} p ON p.id = ee.packet_id
            WHERE ee.kind = 'redeem' AND ee.at >= %(since)s AND ee.at <= %(now)s
              AND p.issuer_user_id IS NOT NULL AND p.holder_id IS NOT NULL AND p.issuer_user_id <> p.holder_id
              AND EXISTS (SELECT 1 FROM {T["rd"]} rd WHERE rd.packet_id = p.id)
        )
        SELECT ARRAY[e1.a, e1.b]
        FROM edges e1 JOIN edges e2 ON e2.a = e1.b AND e2.b = e1.a
        WHERE e1.a < e1.b
        UNION ALL
        SELECT ARRAY[e1.a, e1.b, e2.b]
        FROM edges e1 JOIN edges e2 ON e2.a = e1.b JOIN edges e3 ON e3.a = e2.b AND e3.b = e1.a
        WHERE e1.a < e1.b AND e1.a < e2.b""",
        params,
    )
    rings: dict[tuple[int, ...], set[tuple[int, int]]] = defaultdict(set)
    for (members,) in rows:
        for i, a in enumerate(members):
            rings[tuple(sorted(members))].add((a, members[(i + 1) % len(members)]))
    if not rings:
        return []
    # The packets on each edge, with amounts, for the explanation.
    all_edges = {edge for edges in rings.values() for edge in edges}
    edge_packets: dict[tuple[int, int], list[tuple[int, str]]] = defaultdict(list)
    edge_filter = Q()
    for a, b in all_edges:
        edge_filter |= Q(issuer_user_id=a, holder_id=b)
    for pk, a, b, amount in (
        Packet.objects.filter(
            edge_filter,
            redemption__isnull=False,
            earning_events__kind=EarningEvent.Kind.REDEEM,
            earning_events__at__gte=params["since"],
            earning_events__at__lte=params["now"],
        )
        .distinct()
        .order_by("pk")
        .values_list("pk", "issuer_user_id", "holder_id", "amount")
    ):
        edge_packets[(a, b)].append((pk, str(amount)))

    findings = []
    for members, edges in sorted(rings.items()):
        people = _people(members)
        sentences = [
            f"{people[a]} sent {len(edge_packets[(a, b)])} packet(s) to {people[b]}, who spent them "
            f"(packet {_joined([f'#{pk} of ¥{amount}' for pk, amount in edge_packets[(a, b)]])})."
            for a, b in sorted(edges)
        ]
        explanation = (
            f"Packets went round a ring of {len(members)} accounts in the last {params['days']} days: "
            + " ".join(sentences)
            + " Each spend earns rebates, so passing packets round in a circle earns rebates without real "
            "shopping. Friends playing packet games with each other can look alike: weigh how often and how much."
        )
        packet_ids = sorted(pk for edge in edges for pk, _amount in edge_packets[edge])
        finding, _changed = finding_record(
            kind=Finding.Kind.CIRCULAR_FLOW,
            fingerprint="ring:" + "-".join(str(pk) for pk in members),
            user_ids=members,
            merchant_id=None,
            explanation=explanation,
            evidence={
                "window_days": params["days"],
                "members": list(members),
                "edges": [
                    {"from": a, "to": b, "packets": [pk for pk, _amount in edge_packets[(a, b)]]}
                    for a, b in sorted(edges)
                ],
                "refs": [f"packet:{pk}" for pk in packet_ids],
            },
        )
        findings.append(finding)
    return findings


# --- 5. packet farming ----------------------------------------------------------------------------------------------


def detect_packet_farms(
    *, days: int | None = None, now: datetime | None = None, min_accounts: int | None = None
) -> list[Finding]:
    """Devices from which ≥ `min_accounts` accounts earned or claimed packets on one day (TIME_ZONE), and IPs from
    which ≥ `min_accounts` accounts opened in the last `PACKET_FARM_IP_ACCOUNT_DAYS` days did without buying anything
    themselves — when those fresh accounts outnumber the established accounts that used the IP in the window (a
    shared NAT has its regulars). A finding names every account that collected through the device (or, for an IP,
    every such fresh account) in the window."""
    params = _window(days, now)
    min_accounts = min_accounts or setting("PACKET_FARM_MIN_ACCOUNTS")
    ip_account_days = setting("PACKET_FARM_IP_ACCOUNT_DAYS")
    rows = _rows(
        f"""
        WITH ev AS (
            SELECT ee.kind, ee.user_id, ee.ip, ee.device_id, (ee.at AT TIME ZONE %(tz)s)::date AS day,
                   %(ip_account_days)s = 0
                   OR u.date_joined >= %(now)s - make_interval(days => %(ip_account_days)s) AS new_account
            FROM {T["ee"]} ee JOIN {T["user"]} u ON u.id = ee.user_id
            WHERE ee.kind IN {_KINDS} AND ee.at >= %(since)s AND ee.at <= %(now)s AND {_OWN_EVENT}
        ),
        earned AS (SELECT * FROM ev WHERE kind IN ('issue', 'claim')),
        regulars AS (
            SELECT ip, count(DISTINCT user_id) AS n FROM ev WHERE ip IS NOT NULL AND NOT new_account GROUP BY ip
        ),
        customers AS (  -- earned a packet with a purchase of their own that was not refunded
            SELECT DISTINCT ee.user_id FROM {T["ee"]} ee JOIN {T["packet"]} p ON p.id = ee.packet_id
            WHERE ee.kind = 'issue' AND p.source_order_id IS NOT NULL AND ee.at >= %(since)s AND ee.at <= %(now)s
              AND NOT EXISTS (SELECT 1 FROM {T["refund"]} rf WHERE rf.order_id = p.source_order_id)
        ),
        src AS (  -- who collected packets through which device or connection, on which day
            SELECT 'device' AS via, device_id::text AS value, day, user_id FROM earned
            WHERE device_id IS NOT NULL AND NOT {_ALLOWED_DEVICE.format(device="device_id")}
            UNION ALL
            SELECT 'ip', host(ip), day, user_id FROM earned
            WHERE ip IS NOT NULL AND new_account AND user_id NOT IN (SELECT user_id FROM customers)
              AND NOT {_ALLOWED_IP.format(ip="ip")}
        ),
        qualified AS (
            SELECT s.via, s.value, s.day, count(*) AS events, count(DISTINCT s.user_id) AS accounts,
                   coalesce(max(r.n), 0) AS regulars
            FROM src s LEFT JOIN regulars r ON s.via = 'ip' AND host(r.ip) = s.value
            GROUP BY s.via, s.value, s.day
            HAVING count(DISTINCT s.user_id) >= %(min_accounts)s
               AND (s.via = 'device' OR count(DISTINCT s.user_id) > coalesce(max(r.n), 0))
        )
        -- Named: everyone who collected through it in the window, not only on the day it qualified (a farm spreads
        -- its accounts over days when a daily limit stops it).
        SELECT q.via, q.value, q.day,
               (SELECT array_agg(DISTINCT m.user_id ORDER BY m.user_id) FROM src m
                WHERE m.via = q.via AND m.value = q.value),
               q.events, q.accounts, q.regulars
        FROM qualified q ORDER BY 1, 2, 3""",
        {**params, "tz": settings.TIME_ZONE, "min_accounts": min_accounts, "ip_account_days": ip_account_days},
    )
    devices = _devices(int(value) for via, value, *_rest in rows if via == "device")
    people = _people(pk for _via, _value, _day, users, *_counts in rows for pk in users)
    spent = defaultdict(list)  # account → orders it spent packets on in the window
    for user_id, order_id in _rows(
        f"""SELECT DISTINCT ee.user_id, rd.order_id FROM {T["ee"]} ee JOIN {T["rd"]} rd ON rd.packet_id = ee.packet_id
            WHERE ee.kind = 'redeem' AND ee.user_id = ANY(%(users)s) AND ee.at >= %(since)s AND ee.at <= %(now)s""",
        {**params, "users": list(people)},
    ):
        spent[user_id].append(order_id)
    findings = []
    for via, value, day, users, events, accounts, regulars in rows:
        fresh = (
            f" opened in the last {ip_account_days} days (and buying nothing themselves)"
            if via == "ip" and ip_account_days
            else ""
        )
        explanation = (
            f"On {day.isoformat()}, {accounts} different accounts{fresh} earned or claimed {events} packet(s) from "
            f"{_link_words(via, value, devices)}; in the last {params['days']} days {len(users)} such accounts in all: "
            f"{_joined([people[pk] for pk in users])}. Many accounts collecting packets from one phone or one "
            "connection in a day are usually one person farming packets."
        )
        if fresh:
            explanation += (
                f" Only {regulars} established account(s) used this connection in the last {params['days']} days: "
                "it is not a busy shared network."
            )
        finding, _changed = finding_record(
            kind=Finding.Kind.PACKET_FARM,
            fingerprint=f"{via}:{value}:{day.isoformat()}",
            user_ids=users,
            merchant_id=None,
            explanation=explanation,
            evidence={
                "via": via,
                "value": value,
                "day": day.isoformat(),
                "accounts": list(users),
                "accounts_that_day": accounts,
                "events": events,
                "established_accounts": regulars,
                # Every leg a farmed packet's spend earned waits for review, the shop's too. Not refs: a named
                # account's next order is no new evidence of farming (it would reopen a dismissed finding).
                "order_ids": sorted(pk for user in users for pk in spent[user]),
                "refs": [f"user:{pk}" for pk in users],
            },
        )
        findings.append(finding)
    return findings


# --- 6. scripted trails ---------------------------------------------------------------------------------------------


def detect_scripted_trails(
    *, days: int | None = None, now: datetime | None = None, min_accounts: int | None = None
) -> list[Finding]:
    """Trail shapes (the same steps with the same whole-second gaps, antifraud/trail.py) behind redemptions of ≥
    `min_accounts` accounts in the window. At checkout the third account replaying a shape is held (`scripted_trail`);
    this finding reaches back to the first two, whose rebates are still pending, and to every leg their orders
    earned."""
    params = _window(days, now)
    min_accounts = min_accounts or setting("SCRIPTED_TRAIL_MIN_ACCOUNTS")
    rows = _rows(
        f"""
        SELECT ra.trail_signature, array_agg(DISTINCT ra.user_id ORDER BY ra.user_id),
               array_agg(DISTINCT rd.order_id ORDER BY rd.order_id), min(ra.created_at), max(ra.created_at)
        FROM {T["as"]} ra JOIN {T["rd"]} rd ON rd.id = ra.redemption_id
        WHERE ra.subject = 'redemption' AND ra.trail_signature <> ''
          AND ra.created_at >= %(since)s AND ra.created_at <= %(now)s
        GROUP BY ra.trail_signature HAVING count(DISTINCT ra.user_id) >= %(min_accounts)s
        ORDER BY 1""",
        {**params, "min_accounts": min_accounts},
    )
    people = _people(pk for _sig, users, *_rest in rows for pk in users)
    findings = []
    for signature, users, order_ids, first, last in rows:
        explanation = (
            f"{len(users)} accounts placed {len(order_ids)} order(s) with red packets after exactly the same shopping "
            f"trail — the same steps with the same seconds between them — between {first:%Y-%m-%d %H:%M} and "
            f"{last:%Y-%m-%d %H:%M}: {_joined([people[pk] for pk in users])}. People do not repeat each other to the "
            "second; a script does. The orders are likely fake (no real shopping behind them)."
        )
        finding, _changed = finding_record(
            kind=Finding.Kind.SCRIPTED_TRAIL,
            fingerprint=f"trail:{signature}",
            user_ids=users,
            merchant_id=None,
            explanation=explanation,
            evidence={
                "signature": signature,
                "accounts": list(users),
                "order_ids": list(order_ids),
                "refs": [f"order:{pk}" for pk in order_ids],
            },
        )
        findings.append(finding)
    return findings


# --- all of them ----------------------------------------------------------------------------------------------------

DETECTORS = {
    Finding.Kind.COLLUSION: detect_collusion,
    Finding.Kind.SELF_REFERRAL: detect_self_referral,
    Finding.Kind.REFERRAL_FARM: detect_referral_farms,
    Finding.Kind.CIRCULAR_FLOW: detect_circular_flows,
    Finding.Kind.PACKET_FARM: detect_packet_farms,
    Finding.Kind.SCRIPTED_TRAIL: detect_scripted_trails,
}


def detect_all(*, days: int | None = None, now: datetime | None = None) -> dict[str, int]:
    """Run every detector in order; returns how many findings each matched. One failing detector is logged and does
    not stop the others."""
    counts = {}
    for kind, detector in DETECTORS.items():
        try:
            counts[str(kind)] = len(detector(days=days, now=now))
        except Exception:
            log.exception("detector %s failed", kind)
            counts[str(kind)] = -1
    return counts
