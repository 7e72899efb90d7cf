"""Reward programs beyond the packet's two-way rebate (issue "Rebate lifecycle, every reward form, and payouts", 4–6):
referral rebates (`referral.py`), milestone rebates (`milestone.py`), trial feedback and attribution (`trial.py`),
what they share (`shared.py`), an order's hook and refunds (`orders.py`), the books' check (`audit.py`); their API,
admin and Celery tasks (`api.py`, `admin.py`, `tasks.py`). docs/PROGRAMS.md.

Other apps import the services below from `campaigns.programs`; inside the package, modules import each other."""

from .audit import programs_audit, programs_audit_checks
from .milestone import enrolment_attest, enrolment_create, enrolment_expire, enrolments_expire_due
from .orders import TOPIC_ORDER_PROGRAMS, order_needs_programs, programs_for_order, programs_reverse_for_refund
from .referral import (
    referral_amount,
    referral_reward_confirm,
    referral_reward_for_order,
    referral_reward_release_hold,
    referral_reward_reverse_remaining,
    referral_rewards_confirm_due,
)
from .trial import feedback_auto_grade, feedback_grade, feedback_submit, trial_attribution_for_order

__all__ = [
    "TOPIC_ORDER_PROGRAMS",
    "enrolment_attest",
    "enrolment_create",
    "enrolment_expire",
    "enrolments_expire_due",
    "feedback_auto_grade",
    "feedback_grade",
    "feedback_submit",
    "order_needs_programs",
    "programs_audit",
    "programs_audit_checks",
    "programs_for_order",
    "programs_reverse_for_refund",
    "referral_amount",
    "referral_reward_confirm",
    "referral_reward_for_order",
    "referral_reward_release_hold",
    "referral_reward_reverse_remaining",
    "referral_rewards_confirm_due",
    "trial_attribution_for_order",
]
