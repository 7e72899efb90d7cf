"""The limits hold across web processes: two gunicorn workers share the Redis counts (request bursts) and the
database counts (daily limits), and a forged X-Forwarded-For moves neither."""

import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from django.conf import settings
from rest_framework.authtoken.models import Token

from antifraud.models import RiskPolicy
from packets import batch as batches
from packets.models import Packet
from tests.factories.accounts import UserFactory
from tests.factories.campaigns import two_way_campaign

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db(transaction=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def two_gunicorn_workers(transactional_db, tmp_path):
    """gunicorn with 2 worker processes on the test database, behind one (simulated) trusted proxy, with a burst
    limit of 5 requests a minute per IP."""
    db = settings.DATABASES["default"]
    port = _free_port()
    access_log = tmp_path / "access.log"
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "TRUSTED_PROXY_COUNT": "1",
        "ANTIFRAUD_BURST_RATE": "5/m",
        "CACHE_KEY_PREFIX": f"t{uuid.uuid4().hex[:10]}",  # counts of this test only
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "config.wsgi",
            "-w",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "--access-logfile",
            str(access_log),
            "--access-logformat",
            "%(p)s %(s)s",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            requests.get(f"{url}/accounts/login/", timeout=10)
            break
        except requests.RequestException:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("gunicorn did not start") from None
            time.sleep(0.2)
    yield url, access_log
    proc.terminate()
    proc.wait(timeout=30)


def _claims(url: str, n: int, campaign) -> list[tuple[int, str]]:
    packets = list(Packet.objects.filter(batch=batches.packets_generate(campaign=campaign, count=n)))
    tokens = [Token.objects.create(user=UserFactory()).key for _ in packets]

    def claim(i: int):
        response = requests.post(
            f"{url}/api/v1/packets/claim/",
            json={"code": packets[i].code},
            headers={
                "Authorization": f"Token {tokens[i]}",
                # A client that forges its own entry; the trusted proxy appended the real address last.
                "X-Forwarded-For": f"10.{i}.{i}.{i}, 203.0.113.77",
            },
            timeout=30,
        )
        return response.status_code, response.json().get("code", "") if response.status_code != 200 else "ok"

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(claim, range(n)))


def _pids(access_log: Path) -> set[str]:
    time.sleep(0.5)  # gunicorn writes the access log line after the reply
    return {m.group(1) for m in re.finditer(r"^<(\d+)> ", access_log.read_text(), re.M)}


def test_the_burst_limit_counts_across_two_worker_processes(two_gunicorn_workers):
    url, access_log = two_gunicorn_workers
    campaign = two_way_campaign(budget="1000.00")
    RiskPolicy.objects.create(campaign=campaign, ip_daily_limit=0, device_daily_limit=0, min_interval_minutes=0)

    results = _claims(url, 16, campaign)

    assert sorted(results).count((200, "ok")) == 5, results
    assert {r for r in results if r[0] != 200} == {(429, "rate_limited")}
    assert len(_pids(access_log)) == 2  # both processes served, and counted together


def test_the_daily_ip_limit_is_exact_across_two_worker_processes(two_gunicorn_workers):
    url, _log = two_gunicorn_workers
    campaign = two_way_campaign(budget="1000.00")
    RiskPolicy.objects.create(campaign=campaign, ip_daily_limit=3, min_interval_minutes=0)

    results = _claims(url, 5, campaign)  # under the burst limit: only the database limit decides

    assert results.count((200, "ok")) == 3, results
    assert results.count((429, "ip_daily_limit")) == 2
    assert Packet.objects.filter(holder__isnull=False).count() == 3
