from celery import shared_task

from .batch import generate_batch_task  # noqa: F401 — registers the batch generation task
from .services import packets_expire_due as expire


@shared_task
def packets_expire_due() -> int:
    return expire()
