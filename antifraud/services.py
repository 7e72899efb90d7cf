"""Review decisions and penalties: release or reject held rebates and referral rewards, revoke packets, ban and unban
accounts and devices, decide appeals and detector findings, approve scam-flagged campaigns.

Every decision is recorded as a `ReviewAction` (who — None for the system — what, on what, why) in the same
transaction as its effect, and every one is idempotent: repeating a decision that is already in effect does nothing
and records nothing. Money moves only through the rebate services (rebates/services.py) and `ledger_post`."""

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import Device, User
from accounts.services import devices_set_banned, users_set_banned
from campaigns.models import Campaign, ReferralReward
from campaigns.programs import referral_reward_release_hold, referral_reward_reverse_remaining
from campaigns.selectors import campaign_budget_account, campaign_outstanding_account
from common.money import CNY
from packets.models import Packet
from rebates.ledger import Posting, ledger_post
from rebates.models import LedgerAccount, Rebate
from rebates.services import rebate_release_hold, rebate_reverse_remaining

from .errors import AlreadyDecided, PacketNotRevocable, ReasonRequired
from .models import Appeal, CampaignApproval, Finding, ReviewAction

Action = ReviewAction.Action


def _reason(actor: User | None, reason: str) -> str:
    reason = (reason or "").strip()
    if actor is not None and not reason:
        raise ReasonRequired(_("Say why: the reason is kept in the review trail."))
    return reason


def review_action_record(*, actor: User | None, action: str, target: str, reason: str) -> ReviewAction:
    return ReviewAction.objects.create(actor=actor, action=action, target=target, reason=reason)


# --- held rebates ----------------------------------------------------------------------------------------------------


@transaction.atomic
def rebate_release(*, rebate_id: int, actor: User | None, reason: str) -> bool:
    """Release a rebate held for review: it is paid as if it had never been held (see `rebate_release_hold`).
    Returns False, recording nothing, when it is not held (already released, or never held)."""
    reason = _reason(actor, reason)
    if not rebate_release_hold(rebate_id=rebate_id):
        return False
    review_action_record(actor=actor, action=Action.RELEASE, target=f"rebate:{rebate_id}", reason=reason)
    return True


@transaction.atomic
def rebate_reject(*, rebate_id: int, actor: User | None, reason: str) -> bool:
    """Reject a rebate: what is left of it goes back to its funder. For a held (pending) rebate that is a void; for a
    credited one it is the "revoke" penalty — taken from the balance, the rest as debt. Ends `reversed` (and leaves
    the review queue, which lists pending rebates only). Returns False, recording nothing, when nothing is left
    (already rejected, or fully refunded)."""
    reason = _reason(actor, reason)
    if not rebate_reverse_remaining(rebate_id=rebate_id, key="reject"):
        return False
    review_action_record(actor=actor, action=Action.REJECT, target=f"rebate:{rebate_id}", reason=reason)
    return True


@transaction.atomic
def referral_reward_release(*, reward_id: int, actor: User | None, reason: str) -> bool:
    """Release a referral reward held for review (credited now, or when its holding period ends). False, recording
    nothing, when it is not held."""
    reason = _reason(actor, reason)
    if not referral_reward_release_hold(reward_id=reward_id):
        return False
    review_action_record(actor=actor, action=Action.RELEASE, target=f"referral_reward:{reward_id}", reason=reason)
    return True


@transaction.atomic
def referral_reward_reject(*, reward_id: int, actor: User | None, reason: str) -> bool:
    """Reject a referral reward: what is left of it goes back to the campaign's budget (from the reserve while held,
    else from the inviter's cash, debt for the rest). False, recording nothing, when nothing is left."""
    reason = _reason(actor, reason)
    if not referral_reward_reverse_remaining(reward_id=reward_id, key="reject"):
        return False
    review_action_record(actor=actor, action=Action.REJECT, target=f"referral_reward:{reward_id}", reason=reason)
    return True


def _pending_rewards_hold(*, user_id: int, actor: User | None, reason: str) -> int:
    """Hold every pending rebate and referral reward of the account for review (a ban's side effect)."""
    held = 0
    for model, target, mine in (
        (Rebate, "rebate", Q(beneficiary_user_id=user_id)),
        (ReferralReward, "referral_reward", Q(inviter_id=user_id)),
    ):
        ids = list(
            model.objects.select_for_update()
            .filter(mine, status="pending", held_for_review=False)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if ids:
            model.objects.filter(pk__in=ids).update(held_for_review=True)
            ReviewAction.objects.bulk_create(
                ReviewAction(actor=actor, action=Action.HOLD, target=f"{target}:{pk}", reason=reason) for pk in ids
            )
        held += len(ids)
    return held


# --- packets ---------------------------------------------------------------------------------------------------------


@transaction.atomic
def packet_revoke(*, packet_id: int, actor: User | None, reason: str) -> bool:
    """Revoke an unused packet (claimed or not): it can no longer be spent and its value returns from the campaign's
    outstanding packets to whoever funded it, as expiry does. A coupon a rebate paid is taken back through its rebate
    (the rebate ends reversed). Refused for a used or expired packet; a revoked one is left as it is (False)."""
    reason = _reason(actor, reason)
    rebate_id = Rebate.objects.filter(coupon_id=packet_id).values_list("pk", flat=True).first()
    if rebate_id is not None:
        # Through the rebate, which locks its order first, then the coupon — the refunds' lock order.
        return _coupon_revoke(packet_id=packet_id, rebate_id=rebate_id, actor=actor, reason=reason)
    packet = Packet.objects.select_for_update().get(pk=packet_id)
    if packet.status == Packet.Status.REVOKED:
        return False
    if packet.status != Packet.Status.ISSUED:
        raise PacketNotRevocable(
            _("Packet %(code)s is %(status)s: only an unused packet can be revoked.")
            % {"code": packet.code, "status": packet.status},
            details={"status": packet.status},
        )
    campaign = Campaign(pk=packet.campaign_id)
    funder = (
        LedgerAccount(pk=packet.funding_account_id, currency=CNY)
        if packet.funding_account_id
        else campaign_budget_account(campaign)
    )
    ledger_post(
        kind="packet_revoke",
        idempotency_key=f"packet:{packet.pk}:revoke",
        reference=f"packet:{packet.pk}",
        postings=[Posting(campaign_outstanding_account(campaign), -packet.amount), Posting(funder, packet.amount)],
    )
    Packet.objects.filter(pk=packet.pk).update(status=Packet.Status.REVOKED)
    review_action_record(actor=actor, action=Action.REVOKE_PACKET, target=f"packet:{packet.pk}", reason=reason)
    return True


def _coupon_revoke(*, packet_id: int, rebate_id: int, actor: User | None, reason: str) -> bool:
    rebate = Rebate.objects.get(pk=rebate_id)
    status = Packet.objects.filter(pk=packet_id).values_list("status", flat=True).get()
    if status == Packet.Status.REVOKED:
        return False
    if status != Packet.Status.ISSUED or rebate.reversed_amount:
        raise PacketNotRevocable(
            _("This coupon was paid by a rebate that is used or partly reversed: reject the rebate instead."),
            details={"status": status, "rebate": rebate_id},
        )
    rebate_reverse_remaining(rebate_id=rebate_id, key="revoke")
    review_action_record(actor=actor, action=Action.REVOKE_PACKET, target=f"packet:{packet_id}", reason=reason)
    return True


# --- bans -------------------------------------------------------------------------------------------------------------


@transaction.atomic
def user_ban(*, user_id: int, actor: User | None, reason: str) -> bool:
    """Ban an account: its pages answer with the suspension notice (antifraud/middleware.py), new activity scores as
    blocked, and every rebate and referral reward of it still pending is held for review. False when it was banned
    already."""
    reason = _reason(actor, reason)
    User.objects.select_for_update().get(pk=user_id)
    if not users_set_banned(user_ids=[user_id], banned=True):
        return False
    review_action_record(actor=actor, action=Action.BAN_USER, target=f"user:{user_id}", reason=reason)
    _pending_rewards_hold(
        user_id=user_id, actor=actor, reason=f"account banned: {reason}" if reason else "account banned"
    )
    return True


@transaction.atomic
def user_unban(*, user_id: int, actor: User | None, reason: str) -> bool:
    """Lift a ban. Rebates the ban held stay in the review queue: each is released or rejected on its own."""
    reason = _reason(actor, reason)
    User.objects.select_for_update().get(pk=user_id)
    if not users_set_banned(user_ids=[user_id], banned=False):
        return False
    review_action_record(actor=actor, action=Action.UNBAN_USER, target=f"user:{user_id}", reason=reason)
    return True


@transaction.atomic
def device_ban(*, device_id: int, actor: User | None, reason: str) -> bool:
    reason = _reason(actor, reason)
    Device.objects.select_for_update().get(pk=device_id)
    if not devices_set_banned(device_ids=[device_id], banned=True):
        return False
    review_action_record(actor=actor, action=Action.BAN_DEVICE, target=f"device:{device_id}", reason=reason)
    return True


@transaction.atomic
def device_unban(*, device_id: int, actor: User | None, reason: str) -> bool:
    reason = _reason(actor, reason)
    Device.objects.select_for_update().get(pk=device_id)
    if not devices_set_banned(device_ids=[device_id], banned=False):
        return False
    review_action_record(actor=actor, action=Action.UNBAN_DEVICE, target=f"device:{device_id}", reason=reason)
    return True


# --- appeals ---------------------------------------------------------------------------------------------------------


def appeal_submit(*, user: User, text: str, contact: str = "") -> Appeal:
    """A shopper asks for a decision to be looked at again. One open appeal per account: a double-submitted form (or a
    second appeal while one is open) returns the open one, unchanged."""
    text, contact = text.strip(), contact.strip()
    if not text:
        raise ReasonRequired(_("Tell us what happened."), code="appeal_text_required")
    open_appeal = Appeal.objects.filter(user=user, status=Appeal.Status.OPEN).first()
    if open_appeal is not None:
        return open_appeal
    try:
        with transaction.atomic():
            return Appeal.objects.create(user=user, text=text, contact=contact)
    except IntegrityError:  # a concurrent submit won the partial unique index (one_open_appeal)
        return Appeal.objects.get(user=user, status=Appeal.Status.OPEN)


@transaction.atomic
def appeal_decide(*, appeal_id: int, actor: User, accept: bool, response: str) -> bool:
    """Accept (the ban is lifted) or reject an open appeal; the response is shown to the shopper. Deciding it again the
    same way does nothing (False); the other way is refused."""
    response = _reason(actor, response)
    appeal = Appeal.objects.select_for_update().get(pk=appeal_id)
    wanted = Appeal.Status.ACCEPTED if accept else Appeal.Status.REJECTED
    if appeal.status == wanted:
        return False
    if appeal.status != Appeal.Status.OPEN:
        raise AlreadyDecided(_("Appeal %(pk)s was already %(status)s.") % {"pk": appeal.pk, "status": appeal.status})
    Appeal.objects.filter(pk=appeal.pk).update(
        status=wanted, handled_by=actor, handled_at=timezone.now(), response=response
    )
    action = Action.ACCEPT_APPEAL if accept else Action.REJECT_APPEAL
    review_action_record(actor=actor, action=action, target=f"appeal:{appeal.pk}", reason=response)
    if accept:
        user_unban(user_id=appeal.user_id, actor=actor, reason=f"appeal #{appeal.pk} accepted: {response}")
    return True


# --- detector findings -----------------------------------------------------------------------------------------------


def _finding_tag(finding_id: int) -> str:
    """How a hold names the finding behind it (antifraud/detectors.py `rebates_hold_for_finding`)."""
    return f"finding #{finding_id}:"


def _held_rebates_of(finding: Finding, *, lock_all_pending: bool = False) -> list[int]:
    """Rebates held for review, pending, that belong to the finding's accounts or that a hold names it for (e.g. a
    colluding merchant's issuer rebates on the finding's orders) — locked now, in primary-key order, before any ledger
    account is: deciding them one by one then never waits for a rebate while holding an account a refund needs.
    With `lock_all_pending`, the accounts' other pending rebates are locked too (a ban is about to hold them)."""
    named = [
        int(target.split(":", 1)[1])
        for target in ReviewAction.objects.filter(
            action=Action.HOLD, reason__startswith=_finding_tag(finding.pk), target__startswith="rebate:"
        ).values_list("target", flat=True)
    ]
    accounts = Q(beneficiary_user_id__in=list(finding.user_ids))
    held_here = (accounts | Q(pk__in=named)) & Q(held_for_review=True)
    wanted = (held_here | accounts) if lock_all_pending else held_here
    locked = Rebate.objects.select_for_update().filter(wanted, status=Rebate.Status.PENDING).order_by("pk")
    return [pk for pk, held in locked.values_list("pk", "held_for_review") if held]


def _held_referrals_of(finding: Finding) -> list[int]:
    """Referral rewards held for review, pending, of the finding's accounts (inviter or invitee) — locked, in
    primary-key order, after its rebates."""
    accounts = list(finding.user_ids)
    return list(
        ReferralReward.objects.select_for_update()
        .filter(Q(inviter_id__in=accounts) | Q(invitee_id__in=accounts))
        .filter(held_for_review=True, status=ReferralReward.Status.PENDING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )


def _finding_lock(finding_id: int, wanted: str) -> Finding | None:
    """The open finding, locked; None when it is already decided `wanted` (a repeat); refused if decided otherwise."""
    finding = Finding.objects.select_for_update().get(pk=finding_id)
    if finding.status == wanted:
        return None
    if finding.status != Finding.Status.OPEN:
        raise AlreadyDecided(_("Finding %(pk)s was already %(status)s.") % {"pk": finding.pk, "status": finding.status})
    return finding


@transaction.atomic
def finding_confirm(*, finding_id: int, actor: User, reason: str, ban: bool = False) -> bool:
    """The finding is fraud: every held rebate and referral reward of its accounts is rejected (back to its funder),
    and with `ban` the accounts are banned too (which holds the rest of their pending rebates for review)."""
    reason = _reason(actor, reason)
    finding = _finding_lock(finding_id, Finding.Status.CONFIRMED)
    if finding is None:
        return False
    why = f"finding #{finding.pk} confirmed: {reason}"
    for rebate_id in _held_rebates_of(finding, lock_all_pending=ban):
        rebate_reject(rebate_id=rebate_id, actor=actor, reason=why)
    for reward_id in _held_referrals_of(finding):
        referral_reward_reject(reward_id=reward_id, actor=actor, reason=why)
    if ban:
        for user_id in finding.user_ids:
            user_ban(user_id=user_id, actor=actor, reason=why)
    Finding.objects.filter(pk=finding.pk).update(
        status=Finding.Status.CONFIRMED, reviewed_by=actor, reviewed_at=timezone.now()
    )
    review_action_record(actor=actor, action=Action.CONFIRM_FINDING, target=f"finding:{finding.pk}", reason=reason)
    return True


def held_only_by(target: str, finding_id: int) -> bool:
    """Whether this finding alone holds the rebate or referral reward `target` ("rebate:<id>",
    "referral_reward:<id>"). Every recorded hold of it names this finding (none names another
    finding, a ban or an operator), and its own risk assessment either did not hold it or held it only for this
    finding: the "open finding" signal names this finding and no other, and without that signal's weight the score
    stays under the review score it was assessed with."""
    from .models import RiskAssessment

    reasons = list(ReviewAction.objects.filter(action=Action.HOLD, target=target).values_list("reason", flat=True))
    if any(not reason.startswith(_finding_tag(finding_id)) for reason in reasons):
        return False
    kind, pk = target.split(":")
    assessment = RiskAssessment.objects.filter(**{f"{kind}_id": int(pk)}).first()
    if assessment is None or assessment.decision == RiskAssessment.Decision.ALLOW:
        return bool(reasons)
    signals = assessment.signals or []
    named = [s for s in signals if s.get("code") == "open_finding"]
    if len(named) != 1:
        return False
    findings = str((named[0].get("params") or {}).get("findings", ""))
    mentioned = {part.split()[0].lstrip("#") for part in findings.split(",") if part.strip()}
    if mentioned != {str(finding_id)}:
        return False
    rest = sum(int(s.get("weight", 0)) for s in signals if s.get("code") != "open_finding")
    review_score = int((assessment.policy or {}).get("review_score", 50))
    return min(rest, 100) < review_score


@transaction.atomic
def finding_dismiss(*, finding_id: int, actor: User, reason: str) -> bool:
    """The finding is not fraud: rebates and referral rewards it alone held are released (see `held_only_by`); others
    stay in the queue."""
    reason = _reason(actor, reason)
    finding = _finding_lock(finding_id, Finding.Status.DISMISSED)
    if finding is None:
        return False
    why = f"finding #{finding.pk} dismissed: {reason}"
    for rebate_id in _held_rebates_of(finding):
        if held_only_by(f"rebate:{rebate_id}", finding.pk):
            rebate_release(rebate_id=rebate_id, actor=actor, reason=why)
    for reward_id in _held_referrals_of(finding):
        if held_only_by(f"referral_reward:{reward_id}", finding.pk):
            referral_reward_release(reward_id=reward_id, actor=actor, reason=why)
    Finding.objects.filter(pk=finding.pk).update(
        status=Finding.Status.DISMISSED, reviewed_by=actor, reviewed_at=timezone.now()
    )
    review_action_record(actor=actor, action=Action.DISMISS_FINDING, target=f"finding:{finding.pk}", reason=reason)
    return True


# --- scam guard approvals ---------------------------------------------------------------------------------------------


@transaction.atomic
def campaign_approval_decide(*, approval_id: int, actor: User, approve: bool, note: str) -> bool:
    """An operator approves (the campaign may go live with the shape that was flagged) or refuses a flagged campaign.
    Repeating the same decision does nothing (False). A refused campaign can be approved later, and the reverse: the
    review trail keeps both."""
    note = _reason(actor, note)
    approval = CampaignApproval.objects.select_for_update().get(pk=approval_id)
    wanted = CampaignApproval.Status.APPROVED if approve else CampaignApproval.Status.REFUSED
    if approval.status == wanted:
        return False
    CampaignApproval.objects.filter(pk=approval.pk).update(
        status=wanted, decided_by=actor, decided_at=timezone.now(), note=note
    )
    action = Action.APPROVE_CAMPAIGN if approve else Action.REJECT_CAMPAIGN
    review_action_record(actor=actor, action=action, target=f"campaign:{approval.campaign_id}", reason=note)
    return True
