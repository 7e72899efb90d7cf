from celery import shared_task

from .services import campaigns_end_due


@shared_task
def campaigns_end() -> int:
    return campaigns_end_due()
