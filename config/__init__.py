# The web process must import the Celery app, or `.delay()` would try the default amqp broker.
from .celery import app as celery_app

__all__ = ("celery_app",)
