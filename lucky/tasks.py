from celery import shared_task

from . import services


@shared_task
def lucky_packets_expire_due() -> int:
    """Beat: return what nobody grabbed of every packet past its 24 h (each packet in its own transaction)."""
    return services.packets_expire_due()
