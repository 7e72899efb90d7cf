"""Reads for reviewers: the review queue, one rebate's evidence, signals in plain words, open findings, appeals."""

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from accounts.models import Device, DeviceUse, User
from rebates.models import Rebate

from .models import Appeal, EarningEvent, Finding, ReviewAction, RiskAssessment


def review_queue() -> QuerySet[Rebate]:
    """Rebates held for review and not yet decided, oldest first."""
    return (
        Rebate.objects.filter(held_for_review=True, status=Rebate.Status.PENDING)
        .select_related("beneficiary_user", "beneficiary_merchant", "redemption__packet__campaign", "risk_assessment")
        .order_by("created_at", "pk")
    )


def signals_in_words(signals: list[dict] | None) -> list[str]:
    """Each signal of an assessment as a sentence, in the current language when its code is known (the stored detail
    was written in the language of the request that assessed it)."""
    try:
        from .scoring import Signal
    except ImportError:  # pragma: no cover — the scoring rules ship with the assessments
        Signal = None
    words = []
    for data in signals or []:
        text = ""
        if Signal is not None:
            try:
                text = Signal.from_json(data).describe()
            except (KeyError, TypeError, ValueError):
                text = ""
        words.append(text or str(data.get("detail") or data.get("code", "")))
    return words


def open_findings_of(user_ids) -> QuerySet[Finding]:
    """Open findings naming any of these accounts (the GIN index on user_ids answers `&&`)."""
    return Finding.objects.filter(user_ids__overlap=list(user_ids), status=Finding.Status.OPEN).order_by("-pk")


def review_trail(target: str) -> QuerySet[ReviewAction]:
    return ReviewAction.objects.filter(target=target).select_related("actor").order_by("created_at", "pk")


@dataclass
class DeviceEvidence:
    device: Device
    uses: list[DeviceUse] = field(default_factory=list)  # every account that used it, the beneficiary's included


@dataclass
class RebateEvidence:
    rebate: Rebate
    assessment: RiskAssessment | None
    redemption_assessment: RiskAssessment | None
    order: object
    lines: list
    devices: list[DeviceEvidence]
    ips: list[tuple[str, int]]  # (IP, accounts seen earning or spending from it)
    events: list[EarningEvent]
    findings: list[Finding]
    trail: list[ReviewAction]
    other_held: int


def rebate_evidence(rebate_id: int) -> RebateEvidence:
    """What a reviewer needs to decide one held rebate: both assessments, the order, the devices and the other accounts
    that used them, the IP addresses, open findings naming the account, and the review trail so far."""
    rebate = Rebate.objects.select_related(
        "beneficiary_user",
        "beneficiary_merchant",
        "redemption__order__merchant",
        "redemption__order__device",
        "redemption__packet__campaign",
    ).get(pk=rebate_id)
    redemption = rebate.redemption
    order = redemption.order
    assessment = RiskAssessment.objects.filter(rebate=rebate).first()
    redemption_assessment = RiskAssessment.objects.filter(
        redemption=redemption, subject=RiskAssessment.Subject.REDEMPTION
    ).first()
    events = list(
        EarningEvent.objects.filter(packet_id=redemption.packet_id).select_related("device", "user").order_by("at")
    )
    device_ids = {e.device_id for e in events if e.device_id}
    if order.device_id:
        device_ids.add(order.device_id)
    account = rebate.beneficiary_user_id
    if account:
        device_ids |= set(DeviceUse.objects.filter(user_id=account).values_list("device_id", flat=True)[:20])
    devices = [
        DeviceEvidence(device, list(device.uses.select_related("user").order_by("-last_seen")[:50]))
        for device in Device.objects.filter(pk__in=device_ids).order_by("pk")
    ]
    ips = sorted({str(ip) for ip in [order.ip, *(e.ip for e in events)] if ip})
    ip_accounts = [(ip, EarningEvent.objects.filter(ip=ip).values("user_id").distinct().count()) for ip in ips[:20]]
    user_ids = {u for u in (account, order.shopper_id, redemption.packet.issuer_user_id) if u}
    return RebateEvidence(
        rebate=rebate,
        assessment=assessment,
        redemption_assessment=redemption_assessment,
        order=order,
        lines=list(order.lines.order_by("pk")),
        devices=devices,
        ips=ip_accounts,
        events=events,
        findings=list(open_findings_of(user_ids)),
        trail=list(review_trail(f"rebate:{rebate.pk}")),
        other_held=review_queue().filter(beneficiary_user_id=account).exclude(pk=rebate.pk).count() if account else 0,
    )


def open_appeal_of(user: User) -> Appeal | None:
    return Appeal.objects.filter(user=user, status=Appeal.Status.OPEN).first()


def last_decided_appeal_of(user: User) -> Appeal | None:
    return Appeal.objects.filter(~Q(status=Appeal.Status.OPEN), user=user).order_by("-handled_at", "-pk").first()
