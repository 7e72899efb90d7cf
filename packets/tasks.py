from celery import shared_task

from .services import packets_expire_due as expire


@shared_task
def packets_expire_due() -> int:
    return expire()
