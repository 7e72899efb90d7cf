from celery import shared_task

from . import alerts, services


@shared_task(acks_late=True)
def rollups_apply() -> int:
    """Beat runs it every ROLLUP_APPLY_SECONDS: the events since the last pass, added to the rollups once each."""
    return services.rollups_apply()


@shared_task(acks_late=True)
def usage_spikes_detect() -> int:
    """Beat runs it every SPIKE_DETECT_SECONDS: alerts for the last complete 10-minute window, then the operators are
    told of every alert not yet notified."""
    alerts.spikes_detect()
    return alerts.alerts_notify_pending()
