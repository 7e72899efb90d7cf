from celery import shared_task

from .programs.tasks import (  # noqa: F401 — registers the program tasks
    confirm_due_referral_rewards,
    expire_due_enrolments,
    order_program_effects,
)
from .services import campaigns_end_due


@shared_task
def campaigns_end() -> int:
    return campaigns_end_due()
