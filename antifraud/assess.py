"""Risk assessments of redemptions (at checkout, in the order's transaction) and of rebates (in the worker, before
they are credited): gather the facts from the database, let `scoring.assess` decide, record the verdict."""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Q
from django.utils.translation import gettext as _

from accounts.models import DeviceUse, MerchantStaff, User

from .errors import RiskBlocked
from .limits import EarnContext, policy_for
from .models import EarningEvent, Finding, ListEntry, RiskAssessment, RiskPolicy
from .scoring import BLOCK, Assessment, Policy, RiskFacts, Signal, TrailFacts, assess
from .trail import trail_verdict

DEVICE_WINDOW = timedelta(days=30)
IP_WINDOW = timedelta(days=1)


def policy_values(policy: RiskPolicy) -> Policy:
    return Policy(
        action=policy.action,
        review_score=policy.review_score,
        block_score=policy.block_score,
        trail_required=policy.trail_required,
    )


def _listed(*, user_id: int | None, device_id: int | None, ip: str | None) -> dict[str, tuple[str, ...]]:
    """Which kinds (account, device, IP) are on the allow list and on the block list, in one query."""
    wanted = Q(kind="user", value=str(user_id))
    if device_id:
        wanted |= Q(kind="device", value=str(device_id))
    if ip:
        wanted |= Q(kind="ip", value=ip)
    found: dict[str, set[str]] = {"allow": set(), "block": set()}
    for which, kind in ListEntry.objects.filter(wanted).values_list("list", "kind"):
        found[which].add(kind)
    return {which: tuple(sorted(kinds)) for which, kinds in found.items()}


def _open_findings(
    *, user_ids: tuple[int, ...] = (), merchant_id: int | None = None, order_id: int | None = None
) -> tuple[str, ...]:
    """Open findings against one beneficiary: those naming the accounts, or — for a merchant — a collusion finding
    about the merchant; and with `order_id`, those listing the order (`evidence["order_ids"]`: every leg of an order
    in question waits). A merchant's finding never reaches its customers' legs: it names the shoppers it suspects."""
    if user_ids:
        involved = Q(user_ids__overlap=list(user_ids))
    elif merchant_id:
        involved = Q(merchant_id=merchant_id, kind=Finding.Kind.COLLUSION)
    else:
        involved = Q(pk__in=[])
    if order_id:
        involved |= Q(evidence__order_ids__contains=[order_id])
    findings = Finding.objects.filter(involved, status=Finding.Status.OPEN).order_by("pk")[:5]
    return tuple(f"#{f.pk} {f.get_kind_display()}" for f in findings)


def _staff_overlap(shopper: User, merchant_id: int, ip: str | None, now: datetime) -> tuple[str, ...]:
    staff = list(MerchantStaff.objects.filter(merchant_id=merchant_id).values_list("user_id", flat=True))
    if not staff or shopper.pk in staff:
        return ()
    shared = []
    shopper_devices = DeviceUse.objects.filter(user=shopper).values("device_id")
    if DeviceUse.objects.filter(user_id__in=staff, device_id__in=shopper_devices).exists():
        shared.append("device")
    if ip and EarningEvent.objects.filter(user_id__in=staff, ip=ip, at__gte=now - DEVICE_WINDOW).exists():
        shared.append("IP address")
    return tuple(shared)


def redemption_facts(*, shopper: User, merchant_id: int, packet, context: EarnContext, trail_required: bool, now):
    device = context.device
    trail = None
    if trail_required:
        verdict = trail_verdict(keys=context.trail_keys, user=shopper, order_at=now)
        trail = TrailFacts(verdict.events, verdict.seconds, verdict.twins, verdict.signature)
    listed = _listed(user_id=shopper.pk, device_id=device and device.pk, ip=context.ip)
    return RiskFacts(
        allow_listed=listed["allow"],
        block_listed=listed["block"],
        user_banned=shopper.is_banned,
        device_banned=bool(device and device.is_banned),
        trail=trail,
        device_accounts=(
            DeviceUse.objects.filter(device=device, last_seen__gte=now - DEVICE_WINDOW).count() if device else 0
        ),
        ip_accounts=(
            EarningEvent.objects.filter(ip=context.ip, at__gte=now - IP_WINDOW).values("user").distinct().count()
            if context.ip
            else 0
        ),
        staff_overlap=_staff_overlap(shopper, merchant_id, context.ip, now),
        open_findings=_open_findings(user_ids=(shopper.pk,)),
        account_age_seconds=int((now - shopper.date_joined).total_seconds()),
        packet_age_seconds=int((now - packet.issued_at).total_seconds()),
    )


@dataclass(frozen=True)
class RedemptionVerdict:
    assessment: Assessment
    trail_signature: str  # "" when no trail was looked at


def redemption_assess(*, order, packet, context: EarnContext, policy: RiskPolicy, now: datetime) -> RedemptionVerdict:
    """Score the spend of `packet` on `order`; raise RiskBlocked (nothing is written) when the policy blocks it."""
    facts = redemption_facts(
        shopper=order.shopper,
        merchant_id=order.merchant_id,
        packet=packet,
        context=context,
        trail_required=policy.trail_required,
        now=now,
    )
    verdict = assess(facts, policy_values(policy))
    if verdict.decision == BLOCK:
        raise RiskBlocked(
            _("This red packet cannot be used on this order."),
            details={"reasons": [s.describe() for s in verdict.signals]},
            evidence={
                "campaign_id": packet.campaign_id,
                "user_id": order.shopper_id,
                "score": verdict.score,
                "signals": verdict.signals_json(),
                "policy": policy_values(policy).as_json(),
            },
        )
    return RedemptionVerdict(verdict, facts.trail.signature if facts.trail else "")


def redemption_assessment_record(*, redemption, verdict: RedemptionVerdict, policy: RiskPolicy) -> RiskAssessment:
    assessment = verdict.assessment
    return RiskAssessment.objects.create(
        subject=RiskAssessment.Subject.REDEMPTION,
        redemption=redemption,
        campaign_id=redemption.packet.campaign_id,
        user_id=redemption.packet.holder_id,
        score=assessment.score,
        decision=assessment.decision,
        signals=assessment.signals_json(),
        policy=policy_values(policy).as_json(),
        trail_signature=verdict.trail_signature,
    )


def attempt_record(exc: RiskBlocked) -> None:
    """Keep the evidence of a blocked redemption, after its transaction rolled back."""
    evidence = exc.evidence
    RiskAssessment.objects.create(
        subject=RiskAssessment.Subject.ATTEMPT,
        campaign_id=evidence["campaign_id"],
        user_id=evidence["user_id"],
        score=evidence["score"],
        decision=BLOCK,
        signals=evidence["signals"],
        policy=evidence["policy"],
    )


def rebate_verdicts(*, redemption, beneficiaries: list[tuple[int | None, int | None]]) -> list[Assessment]:
    """One verdict per rebate leg (beneficiary user id, merchant id), built on the redemption's own assessment and
    what is known now about each beneficiary and the order (a ban, findings written since the spend)."""
    policy = policy_for(redemption.packet.campaign_id)
    base = RiskAssessment.objects.filter(redemption=redemption, subject=RiskAssessment.Subject.REDEMPTION).first()
    inherited = tuple(Signal.from_json(s) for s in base.signals) if base else ()
    banned = set(
        User.objects.filter(pk__in=[u for u, _ in beneficiaries if u], is_banned=True).values_list("pk", flat=True)
    )
    verdicts = []
    for user_id, merchant_id in beneficiaries:
        facts = RiskFacts(
            allow_listed=_listed(user_id=user_id, device_id=None, ip=None)["allow"] if user_id else (),
            user_banned=user_id in banned,
            open_findings=_open_findings(
                user_ids=(user_id,) if user_id else (), merchant_id=merchant_id, order_id=redemption.order_id
            ),
            inherited=inherited,
        )
        verdicts.append(assess(facts, policy_values(policy)))
    return verdicts


def rebate_verdicts_many(items: list[tuple]) -> list[list[Assessment]]:
    """`rebate_verdicts` for a batch of (redemption, beneficiaries) in a fixed number of queries (policies, the
    redemptions' own assessments, bans, allow lists, open findings), whatever the batch's size. The same facts and
    the same rule per leg as `rebate_verdicts`: the batch credit and the one-by-one credit cannot disagree."""
    if not items:
        return []
    campaign_ids = {r.packet.campaign_id for r, _ in items}
    policies = {p.campaign_id: p for p in RiskPolicy.objects.filter(campaign_id__in=campaign_ids)}
    bases = {
        a.redemption_id: a
        for a in RiskAssessment.objects.filter(
            redemption_id__in=[r.pk for r, _ in items], subject=RiskAssessment.Subject.REDEMPTION
        ).order_by("-pk")
    }
    users = {u for _, beneficiaries in items for u, _ in beneficiaries if u}
    merchants = {m for _, beneficiaries in items for u, m in beneficiaries if m and not u}
    banned = set(User.objects.filter(pk__in=users, is_banned=True).values_list("pk", flat=True))
    allowed = {
        int(v)
        for v in ListEntry.objects.filter(list="allow", kind="user", value__in=[str(u) for u in users]).values_list(
            "value", flat=True
        )
    }
    involved = Q(user_ids__overlap=list(users)) | Q(merchant_id__in=merchants, kind=Finding.Kind.COLLUSION)
    for redemption, _assessment in items:
        involved |= Q(evidence__order_ids__contains=[redemption.order_id])
    findings = list(Finding.objects.filter(involved, status=Finding.Status.OPEN).order_by("pk"))
    verdicts = []
    for redemption, beneficiaries in items:
        base = bases.get(redemption.pk)
        inherited = tuple(Signal.from_json(s) for s in base.signals) if base else ()
        policy = policies.get(redemption.packet.campaign_id) or RiskPolicy(campaign_id=redemption.packet.campaign_id)
        per_leg = []
        for user_id, merchant_id in beneficiaries:
            named = [
                f
                for f in findings
                if (user_id and user_id in (f.user_ids or []))
                or (not user_id and merchant_id and f.merchant_id == merchant_id and f.kind == Finding.Kind.COLLUSION)
                or redemption.order_id in ((f.evidence or {}).get("order_ids") or [])
            ][:5]
            facts = RiskFacts(
                allow_listed=("user",) if user_id in allowed else (),
                user_banned=user_id in banned,
                open_findings=tuple(f"#{f.pk} {f.get_kind_display()}" for f in named),
                inherited=inherited,
            )
            per_leg.append(assess(facts, policy_values(policy)))
        verdicts.append(per_leg)
    return verdicts


def rebate_assessments_record(*, rebates, verdicts: list[Assessment], campaign_id: int) -> None:
    rebate_assessments_record_many(
        [(rebate, verdict, campaign_id) for rebate, verdict in zip(rebates, verdicts, strict=True)]
    )


def rebate_assessments_record_many(rows: list[tuple]) -> None:
    """`rebate_assessments_record` for (rebate, verdict, campaign id) rows of many campaigns: one read of their
    policies, one insert."""
    campaign_ids = {campaign_id for _, _, campaign_id in rows}
    policies = {p.campaign_id: p for p in RiskPolicy.objects.filter(campaign_id__in=campaign_ids)}
    RiskAssessment.objects.bulk_create(
        [
            RiskAssessment(
                subject=RiskAssessment.Subject.REBATE,
                rebate=rebate,
                redemption_id=rebate.redemption_id,
                campaign_id=campaign_id,
                user_id=rebate.beneficiary_user_id,
                score=verdict.score,
                decision=verdict.decision,
                signals=verdict.signals_json(),
                policy=policy_values(policies.get(campaign_id) or RiskPolicy(campaign_id=campaign_id)).as_json(),
            )
            for rebate, verdict, campaign_id in rows
        ]
    )


def referral_reward_verdict(*, order, inviter_id: int, campaign_id: int) -> Assessment:
    """The verdict on what an invitee's order earns the inviter: the inviter's lists and ban, findings naming the
    inviter or the invitee (self-referral and referral farms name both), and the signals of the order's own
    redemption when it spent a packet."""
    base = RiskAssessment.objects.filter(redemption__order=order, subject=RiskAssessment.Subject.REDEMPTION).first()
    listed = _listed(user_id=inviter_id, device_id=None, ip=None)
    facts = RiskFacts(
        allow_listed=listed["allow"],
        block_listed=listed["block"],
        user_banned=User.objects.filter(pk=inviter_id, is_banned=True).exists(),
        open_findings=_open_findings(user_ids=(inviter_id, order.shopper_id), order_id=order.pk),
        inherited=tuple(Signal.from_json(s) for s in base.signals) if base else (),
    )
    return assess(facts, policy_values(policy_for(campaign_id)))


def referral_assessment_record(*, reward, verdict: Assessment, campaign_id: int) -> RiskAssessment:
    return RiskAssessment.objects.create(
        subject=RiskAssessment.Subject.REFERRAL,
        referral_reward=reward,
        campaign_id=campaign_id,
        user_id=reward.inviter_id,
        score=verdict.score,
        decision=verdict.decision,
        signals=verdict.signals_json(),
        policy=policy_values(policy_for(campaign_id)).as_json(),
    )
