import contextlib
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.utils import translation
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.factories.accounts import MerchantStaffFactory

ROOT = Path(__file__).resolve().parent.parent
TEST_QUEUE = f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session", autouse=True)
def _own_celery_queue():
    """This session publishes to its own queue, so a shared broker never hands our tasks to another run's worker."""
    from django.conf import settings

    settings.CELERY_TASK_DEFAULT_QUEUE = TEST_QUEUE


@pytest.fixture(autouse=True)
def _own_rate_limit_counts(settings):
    """Each test counts its requests afresh: rate-limit counters live in the shared Redis, not in the test database."""
    settings.RATELIMIT_CACHE_PREFIX = f"rl:{uuid.uuid4().hex[:12]}:"


@pytest.fixture(autouse=True)
def _no_ledger_accounts_cached_from_another_test():
    """A transactional test empties the tables: account ids a process cached for an earlier test name no rows."""
    from rebates.ledger import writer

    writer._ACCOUNTS.clear()


@pytest.fixture(autouse=True)
def _english(settings):
    # Error messages are asserted in English; pages are tested in both languages where it matters. A request in an
    # earlier test leaves its language active in this thread (LocaleMiddleware never deactivates it): start in English.
    settings.LANGUAGE_CODE = "en"
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _publish_only_to_a_requested_worker(request, monkeypatch):
    """Only tests that ask for the real worker publish tasks. Otherwise a committed redemption of one test would be
    picked up by the session's worker while the next test truncates the tables (a deadlock, then a dirty database).
    Tests with the worker wait, at the end, until it has finished what they gave it (see `celery_worker`)."""
    if "celery_worker" not in request.fixturenames:
        monkeypatch.setattr("rebates.outbox.outbox_publish", lambda topic, ref_id: False)


@pytest.fixture
def merchant_client(db):
    """An API client authenticated with a merchant staff member's token, and that merchant."""
    staff = MerchantStaffFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=staff.user).key}")
    client.merchant = staff.merchant
    return client


@pytest.fixture
def celery_worker(_celery_worker_process, transactional_db):
    """The session's real worker, for one test; before the test's tables are emptied, the worker must have finished
    every task the test gave it (else it would write while the tables are truncated)."""
    from rebates.models import OutboxEvent

    yield _celery_worker_process
    deadline = time.monotonic() + 30
    while OutboxEvent.objects.filter(done_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(0.1)


@contextlib.contextmanager
def running_celery_worker(*, queue: str, **extra_env: str):
    """A real Celery worker process on the test database, consuming `queue`, with `extra_env` in its environment."""
    from django.conf import settings

    db = settings.DATABASES["default"]
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    env = {**os.environ, "DATABASE_URL": url, "CELERY_QUEUE": queue, "PYTHONUNBUFFERED": "1", **extra_env}
    env.setdefault("WEBHOOKS_ALLOW_PRIVATE_HOSTS", "1")  # the tests' webhook receivers listen on 127.0.0.1
    (ROOT / "var").mkdir(exist_ok=True)
    log_path = ROOT / "var" / f"test-worker-{queue}.log"  # one per queue: parallel runs keep their own
    log = open(log_path, "w")  # noqa: SIM115 — lives as long as the process
    proc = subprocess.Popen(
        # A node name per queue: two workers named alike clash on RabbitMQ's exclusive pidbox queue.
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "-c",
            "2",
            "-l",
            "info",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 60
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the Celery worker did not start; see {log_path}")
        time.sleep(0.2)
    try:
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        log_path.unlink()


@pytest.fixture(scope="session")
def _celery_worker_process(django_db_setup, django_db_blocker):
    """The session's worker, on this session's queue."""
    with running_celery_worker(queue=TEST_QUEUE) as proc:
        yield proc


def race(targets) -> list:
    """Run each target in its own thread (own connection), all released at once; the results or exceptions."""
    barrier = threading.Barrier(len(targets))
    results = [None] * len(targets)

    def run(i, target):
        try:
            barrier.wait()
            results[i] = target()
        except Exception as exc:
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, t)) for i, t in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return results


def wait_for(predicate, timeout: float = 30.0, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError("condition not met in time")
