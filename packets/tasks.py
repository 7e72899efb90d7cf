from celery import shared_task

from . import services
from .batch import generate_batch_task  # noqa: F401 — registers the batch generation task
from .services import packets_expire_due as expire


@shared_task
def packets_expire_due() -> int:
    return expire()


@shared_task(acks_late=True)
def packets_reissue_retryable() -> int:
    """Beat runs it every REISSUE_SWEEP_SECONDS: packets refused for a reason that may have passed (budget, daily
    cap) are issued again where the campaign runs (idempotent per refusal)."""
    return services.packets_reissue_retryable()
