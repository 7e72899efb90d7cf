"""Lucky money grabs at scale (issue 14's benchmark), in one run on one PostgreSQL server:

1. `pgbench_skip_locked_tps` — the database's ceiling: a `pgbench -f` script whose every transaction claims one
   pre-split share row of ONE packet with the grab's own statement (`UPDATE … WHERE id = (SELECT … ORDER BY position
   LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING`, lucky/lock_objects.py) and commits; all clients contend on the same
   packet. The rows live in the bench's own table `bench_grab_share` (same columns and partial index as
   lucky_luckyshare), so the app's shares and books are untouched.
2. `framework_floor_per_s` — the hot-path benchmark's floor (bench/floor.py): the cheapest writing DRF request.
3. Over HTTP (gunicorn, `POST /api/v1/lucky/packets/<id>/grab/`, each grabber with their own token): bursts — one
   packet of `--shares` shares, `--grabbers` members all grabbing it at once through `--burst-threads` keep-alive
   connections — repeated on fresh packets for `--duration` s: `burst_drain_ms_p50`/`_p99` (the burst's first request
   sent → the reply of its last share), `grabs_per_s` (replies per second inside the bursts, shares and too-lates;
   sending the next packet, in-process, is not counted), `claims_per_s`,
   `too_late_ms_p99` (409 `all_grabbed` replies), `ratio_to_floor` (= grabs_per_s ÷ framework_floor_per_s).
4. `p99_ms_half_load` — open loop: grabs arrive as a Poisson process at half the sustained rate (latency from the
   scheduled arrival, so queueing counts), over fresh packets.
5. `exact` — every burst packet has exactly `--shares` winners, nobody twice, each winner's reply is their share, the
   shares sum to the packet's total, and `manage.py audit` is clean.

Targets (the issue): ratio_to_floor ≥ 0.6, p99_ms_half_load < 100, too-late p99 < 50 ms.

The rate limits and daily caps of the grab and send paths are lifted for the children (LUCKY_*_RATE,
LUCKY_DAILY_*_LIMIT): every client is 127.0.0.1, and this measures the grab, not the limiter. LUCKY_MAX_SHARES is
raised to `--shares` in this process, which sends the packets.
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import random
import re
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
# As in bench/redemption.py: bench/ first on sys.path would make bench/common.py shadow the project's `common` app.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]
sys.path.insert(0, str(ROOT))

from bench import common as bc  # noqa: E402

UNLIMITED = {
    "LUCKY_GRAB_RATE": "100000000/m",
    "LUCKY_SEND_RATE": "100000000/m",
    "LUCKY_DAILY_SEND_LIMIT": "100000000.00",
    "LUCKY_DAILY_RECEIVE_LIMIT": "100000000.00",
}
TARGET_RATIO, TARGET_HALF_LOAD_P99_MS, TARGET_TOO_LATE_P99_MS = 0.6, 100.0, 50.0

SHARE_TABLE_SQL = """
DROP TABLE IF EXISTS bench_grab_share;
CREATE TABLE bench_grab_share (
    id bigserial PRIMARY KEY,
    packet_id integer NOT NULL,
    position integer NOT NULL,
    amount numeric(14, 2) NOT NULL,
    grabbed_by_id integer,
    grabbed_at timestamptz,
    returned_at timestamptz
);
INSERT INTO bench_grab_share (packet_id, position, amount)
    SELECT 1, g, 0.01 + mod(g, 97) / 100.0 FROM generate_series(0, %(shares)s - 1) g;
CREATE INDEX bench_grab_share_free ON bench_grab_share (packet_id, position)
    WHERE grabbed_by_id IS NULL AND returned_at IS NULL;
ANALYZE bench_grab_share;
"""
CLAIM_SCRIPT = """\\set grabber random(1, 1000000)
BEGIN;
UPDATE bench_grab_share SET grabbed_by_id = :grabber, grabbed_at = now()
 WHERE id = (SELECT id FROM bench_grab_share
              WHERE packet_id = 1 AND grabbed_by_id IS NULL AND returned_at IS NULL
              ORDER BY position LIMIT 1 FOR UPDATE SKIP LOCKED)
RETURNING id, amount;
COMMIT;
"""


def parse_args(argv=None) -> argparse.Namespace:
    cores = bc.cores()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=20.0, help="seconds of back-to-back bursts (default 20)")
    p.add_argument("--grabbers", type=int, default=1000, help="members grabbing each packet (default 1000)")
    p.add_argument("--shares", type=int, default=200, help="shares of each packet (default 200)")
    p.add_argument("--total", type=Decimal, default=Decimal("200.00"), help="each packet's total (default 200.00)")
    p.add_argument("--burst-threads", type=int, default=64, help="client connections of a burst (default 64)")
    p.add_argument("--half-load-seconds", type=float, default=10.0, help="open-loop phase (default 10; 0 skips)")
    p.add_argument("--floor-seconds", type=float, default=10.0, help="framework-floor phase (default 10; 0 skips)")
    p.add_argument("--workers", type=int, default=2 * cores + 1, help="gunicorn workers (default 2*cores+1)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--pgbench-seconds", type=float, default=10.0, help="pgbench duration (default 10; 0 skips)")
    p.add_argument("--pgbench-clients", type=int, default=8, help="pgbench clients (default 8)")
    p.add_argument("--pgbench-shares", type=int, default=300_000, help="rows of the pgbench packet (default 300000)")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    p.add_argument("--strict", action="store_true", help="exit 1 when a target is missed or the books are not exact")
    return p.parse_args(argv)


# --------------------------------------------------------------------------------------------------- pgbench


def run_pgbench_skip_locked(args, database_url: str, workdir: Path) -> dict:
    from django.db import connection, connections

    with connection.cursor() as cursor:
        cursor.execute(SHARE_TABLE_SQL % {"shares": int(args.pgbench_shares)})
    connections.close_all()
    script = workdir / "grab.pgbench.sql"
    script.write_text(CLAIM_SCRIPT)
    pgbench, _ = bc.find_pgbench()
    conn_args, env = bc.pg_connection_args(database_url)
    dbname = urlparse(database_url).path.lstrip("/")
    jobs = max(1, min(args.pgbench_clients, bc.cores()))
    cmd = [pgbench, *conn_args, "-n", "-f", str(script), "-c", str(args.pgbench_clients), "-j", str(jobs)]
    cmd += ["-T", str(int(args.pgbench_seconds)), dbname]
    proc = subprocess.run(cmd, env=env, check=False, capture_output=True, text=True)
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", proc.stdout)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM bench_grab_share WHERE grabbed_by_id IS NOT NULL")
        (claimed,) = cursor.fetchone()
        cursor.execute("DROP TABLE bench_grab_share")
    connections.close_all()
    if proc.returncode or not tps:
        return {"tps": None, "error": f"{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"}
    latency = re.search(r"latency average = ([\d.]+) ms", proc.stdout)
    return {
        "tps": float(tps.group(1)),
        "latency_ms": float(latency.group(1)) if latency else None,
        "claimed": claimed,
        "exhausted": claimed >= args.pgbench_shares,
        "clients": args.pgbench_clients,
    }


# --------------------------------------------------------------------------------------------------- the world


class Family:
    """One sender with money, `grabbers` members with their own API tokens, all in one group."""

    def __init__(self, grabbers: int, tag: str) -> None:
        from django.contrib.auth.hashers import make_password
        from rest_framework.authtoken.models import Token

        from accounts.models import User
        from lucky.models import LuckyMembership
        from lucky.services import group_create

        unusable = make_password(None)
        self.sender = User.objects.create(username=f"bench-lucky-sender-{tag}", password=unusable)
        members = User.objects.bulk_create(
            [User(username=f"bench-lucky-{tag}-{i}", password=unusable) for i in range(grabbers)], batch_size=1000
        )
        self.group = group_create(owner=self.sender, name=f"Bench family {tag}")
        LuckyMembership.objects.bulk_create([LuckyMembership(group=self.group, user=u) for u in members])
        tokens = Token.objects.bulk_create([Token(user=u, key=Token.generate_key()) for u in [self.sender, *members]])
        self.sender_token = tokens[0].key
        self.members = [(u.pk, t.key) for u, t in zip(members, tokens[1:], strict=True)]

    def fund(self, amount: Decimal) -> None:
        from rebates.ledger import ledger_account, platform_account, transfer
        from rebates.models import AccountKind

        transfer(
            source=platform_account(AccountKind.PLATFORM_EXTERNAL),
            destination=ledger_account(kind=AccountKind.SHOPPER_CASH, user_id=self.sender.pk),
            amount=amount,
            kind="bench_top_up",
            idempotency_key=f"bench-lucky-top-up:{uuid.uuid4().hex}",
            reference=f"user:{self.sender.pk}",
        )

    def send(self, total: Decimal, shares: int) -> int:
        from lucky.services import packet_send

        packet = packet_send(sender=self.sender, group=self.group, kind="random", total=total, share_count=shares)
        return packet.pk


def grab(api: bc.Api, packet_id: int, token: str) -> tuple[int, bytes]:
    api.headers["Authorization"] = f"Token {token}"
    return api.post(f"/api/v1/lucky/packets/{packet_id}/grab/", b"", uuid.uuid4().hex)


# --------------------------------------------------------------------------------------------------- bursts


class Bursts:
    """Back-to-back bursts, one fresh packet each: every member grabs it at once; replies are kept per packet."""

    def __init__(self, port: int, family: Family, args) -> None:
        self.port, self.family, self.args = port, family, args
        self.drains: list[float] = []
        self.busy = 0.0  # seconds spent inside bursts (not sending the next packet, which is in-process)
        self.got_latencies: list[float] = []
        self.too_late_latencies: list[float] = []
        self.statuses: Counter = Counter()
        self.errors: list[str] = []
        self.replies: dict[int, list[tuple[int, str]]] = {}  # packet → [(grabber, amount)] of the 200 replies
        self.apis = [bc.Api(port, family.sender_token) for _ in range(args.burst_threads)]

    def burst(self, packet_id: int) -> None:
        jobs: queue.Queue = queue.Queue()
        members = list(self.family.members)
        random.shuffle(members)
        for member in members:
            jobs.put(member)
        lock = threading.Lock()
        wins: list[tuple[int, str]] = []
        last_win = [0.0]
        start = threading.Barrier(len(self.apis) + 1)

        def run(api: bc.Api) -> None:
            start.wait()
            while True:
                try:
                    user_id, token = jobs.get_nowait()
                except queue.Empty:
                    return
                t0 = time.perf_counter()
                status, body = grab(api, packet_id, token)
                done = time.perf_counter()
                with lock:
                    self.statuses[status] += 1
                    if status == 200:
                        wins.append((user_id, json.loads(body)["amount"]))
                        self.got_latencies.append(done - t0)
                        last_win[0] = max(last_win[0], done)
                    elif status == 409:
                        self.too_late_latencies.append(done - t0)
                    elif len(self.errors) < 5:
                        self.errors.append(f"{status}: {body[:200]!r}")

        threads = [threading.Thread(target=run, args=(api,), daemon=True) for api in self.apis]
        for t in threads:
            t.start()
        start.wait()
        first_sent = time.perf_counter()
        for t in threads:
            t.join(timeout=300)
        self.busy += time.perf_counter() - first_sent
        self.replies[packet_id] = wins
        if wins:
            self.drains.append(last_win[0] - first_sent)

    def close(self) -> None:
        for api in self.apis:
            api.close()


def open_loop(port: int, family: Family, packets: list[int], *, rate: float, seconds: float, threads: int) -> dict:
    """Grabs arriving as a Poisson process at `rate`/s over the given fresh packets (each member grabs each packet
    once, in a shuffled order); latency from the scheduled arrival."""
    rng = random.Random(14)
    arrivals: queue.Queue = queue.Queue()
    jobs = [(p, m) for p in packets for m in rng.sample(family.members, len(family.members))]
    at = 0.0
    for job in jobs:
        at += rng.expovariate(rate)
        if at >= seconds:
            break
        arrivals.put((at, job))
    latencies: list[float] = []
    statuses: Counter = Counter()
    lock = threading.Lock()
    t_start = time.monotonic()

    def sender() -> None:
        api = bc.Api(port, family.sender_token)
        try:
            while True:
                try:
                    offset, (packet_id, (_user, token)) = arrivals.get_nowait()
                except queue.Empty:
                    return
                time.sleep(max(0.0, t_start + offset - time.monotonic()))
                status, _ = grab(api, packet_id, token)
                with lock:
                    statuses[status] += 1
                    latencies.append(time.monotonic() - (t_start + offset))
        finally:
            api.close()

    workers = [threading.Thread(target=sender, daemon=True) for _ in range(threads)]
    for t in workers:
        t.start()
    for t in workers:
        t.join(timeout=seconds + 120)
    return {"latencies": latencies, "statuses": dict(statuses), "rate": rate}


# --------------------------------------------------------------------------------------------------- exactness


def exactness(replies: dict[int, list[tuple[int, str]]], shares: int) -> list[str]:
    from lucky.models import LuckyPacket, LuckyShare

    problems = []
    for packet_id, wins in replies.items():
        packet = LuckyPacket.objects.get(pk=packet_id)
        rows = list(LuckyShare.objects.filter(packet_id=packet_id).values_list("grabbed_by_id", "amount"))
        grabbed = [(g, a) for g, a in rows if g is not None]
        if len(rows) != shares or len(grabbed) != shares:
            problems.append(f"packet {packet_id}: {len(grabbed)} of {len(rows)} shares grabbed, {shares} expected")
        if len({g for g, _ in grabbed}) != len(grabbed):
            problems.append(f"packet {packet_id}: someone holds two shares")
        if sum(a for _, a in rows) != packet.total:
            problems.append(f"packet {packet_id}: shares sum to {sum(a for _, a in rows)}, not {packet.total}")
        if sorted((g, Decimal(a)) for g, a in wins) != sorted(grabbed):
            problems.append(f"packet {packet_id}: the successful grab replies are not the grabbed shares")
    return problems


# --------------------------------------------------------------------------------------------------- main


def ms(values: list[float], p: float) -> float | None:
    return round(bc.percentile(values, p) * 1000, 1) if values else None


def main(argv=None) -> int:
    args = parse_args(argv)
    database_url = bc.require_database_url()
    os.environ.update(UNLIMITED)  # this process sends the packets through the service
    # The packet has 200 shares, above the product's LUCKY_MAX_SHARES (100): raised for this process only.
    os.environ["LUCKY_MAX_SHARES"] = str(max(args.shares, int(os.environ.get("LUCKY_MAX_SHARES", 100))))
    bc.sigterm_as_keyboard_interrupt()
    bc.django_setup()
    run_id = uuid.uuid4().hex[:8]
    workdir = ROOT / "var" / "tmp" / f"bench-grab-{run_id}"
    workdir.mkdir(parents=True, exist_ok=True)
    results: dict = {"run_id": run_id, "args": {k: str(v) for k, v in vars(args).items()}}
    machine = bc.machine_summary()
    results["machine"] = machine
    bc.say(f"machine: {machine['cores']} cores ({machine['cpu']}), {machine['memory_gib']} GiB")
    results["load_average_before"] = [round(x, 2) for x in os.getloadavg()]
    bc.say(f"load average before the run: {results['load_average_before']}")
    bc.migrate()

    from django.db import connections

    if args.pgbench_seconds:
        bc.say(f"pgbench -f: SKIP LOCKED claims on one packet of {args.pgbench_shares} shares ...")
        results["pgbench_skip_locked"] = run_pgbench_skip_locked(args, database_url, workdir)
        bc.say(f"pgbench SKIP LOCKED: {results['pgbench_skip_locked']}")

    family = Family(args.grabbers, run_id)
    connections.close_all()
    port = bc.free_port()
    env = bc.subprocess_env(**UNLIMITED)
    ok = True
    with bc.Children(workdir) as children:
        try:
            children.start(
                "web",
                bc.gunicorn_cmd(port, workers=args.workers, threads=args.threads, worker_class="gthread"),
                {**env, "DJANGO_SETTINGS_MODULE": "bench.settings", "PGAPPNAME": "web"},
            )
            bc.wait_http(port, children=children)
            bursts = Bursts(port, family, args)
            # Warm-up: one burst unmeasured (each gunicorn worker's first requests pay for lazy imports).
            family.fund(args.total)
            warm = Bursts(port, family, args)
            warm.burst(family.send(args.total, args.shares))
            warm.close()
            bc.say(f"bursts: {args.grabbers} grabbers × {args.shares}-share packets for {args.duration:g} s ...")
            t0 = time.monotonic()
            while time.monotonic() - t0 < args.duration:
                family.fund(args.total)
                packet_id = family.send(args.total, args.shares)
                connections.close_all()
                bursts.burst(packet_id)
            elapsed = time.monotonic() - t0
            bursts.close()
            replies = sum(bursts.statuses.values())
            grabs_per_s = replies / bursts.busy
            results["bursts"] = {
                "packets": len(bursts.replies),
                "seconds": round(elapsed, 2),
                "statuses": dict(bursts.statuses),
                "errors": bursts.errors,
                "grabs_per_s": round(grabs_per_s, 1),
                "burst_seconds": round(bursts.busy, 2),
                "claims_per_s": round(bursts.statuses[200] / bursts.busy, 1),
                "burst_drain_ms_p50": ms(bursts.drains, 50),
                "burst_drain_ms_p99": ms(bursts.drains, 99),
                "got_ms": bc.describe(bursts.got_latencies),
                "too_late_ms_p99": ms(bursts.too_late_latencies, 99),
                "too_late_ms": bc.describe(bursts.too_late_latencies),
            }
            bc.say(f"bursts: {results['bursts']}")

            if args.half_load_seconds and grabs_per_s > 0:
                rate = grabs_per_s / 2
                needed = int(rate * args.half_load_seconds / args.grabbers) + 1
                fresh = []
                for _ in range(needed):
                    family.fund(args.total)
                    fresh.append(family.send(args.total, args.shares))
                connections.close_all()
                bc.say(f"open loop: {rate:.0f} grabs/s for {args.half_load_seconds:g} s over {needed} packets ...")
                half = open_loop(
                    port, family, fresh, rate=rate, seconds=args.half_load_seconds, threads=args.burst_threads
                )
                results["half_load"] = {
                    "rate": round(rate, 1),
                    "statuses": half["statuses"],
                    "p99_ms": ms(half["latencies"], 99),
                    "latency": bc.describe(half["latencies"]),
                }
                bc.say(f"half load: {results['half_load']}")

            if args.floor_seconds:
                from bench.floor import ensure_table
                from bench.redemption import drive_floor

                ensure_table()
                connections.close_all()
                floor_rate, floor_latencies = drive_floor(
                    [port],
                    family.sender_token,
                    family.sender.pk,
                    clients=args.burst_threads,
                    seconds=args.floor_seconds,
                )
                results["framework_floor"] = {"per_s": round(floor_rate, 1), "latency": bc.describe(floor_latencies)}
                bc.say(f"framework floor: {results['framework_floor']}")
        except KeyboardInterrupt:
            bc.say("interrupted: stopping the children")
            ok = False

    from rebates.ledger import ledger_rollup

    ledger_rollup()
    problems = exactness(bursts.replies, args.shares) if "bursts" in results else ["no bursts ran"]
    connections.close_all()
    audit_rc, audit_out = bc.manage_audit(env)
    results["audit"] = {"returncode": audit_rc, "output": audit_out[-2000:]}
    results["exact"] = not problems and audit_rc == 0
    results["problems"] = problems[:20]

    floor = results.get("framework_floor", {}).get("per_s")
    burst = results.get("bursts", {})
    summary = {
        "pgbench_skip_locked_tps": results.get("pgbench_skip_locked", {}).get("tps"),
        "framework_floor_per_s": floor,
        "grabs_per_s": burst.get("grabs_per_s"),
        "claims_per_s": burst.get("claims_per_s"),
        "burst_drain_ms_p50": burst.get("burst_drain_ms_p50"),
        "burst_drain_ms_p99": burst.get("burst_drain_ms_p99"),
        "too_late_ms_p99": burst.get("too_late_ms_p99"),
        "p99_ms_half_load": results.get("half_load", {}).get("p99_ms"),
        "ratio_to_floor": round(burst["grabs_per_s"] / floor, 3) if floor and burst.get("grabs_per_s") else None,
        "exact": results["exact"],
    }
    results["summary"] = summary
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    checks = [
        ("ratio_to_floor", summary["ratio_to_floor"], f"≥ {TARGET_RATIO}", lambda v: v >= TARGET_RATIO),
        ("p99_ms_half_load", summary["p99_ms_half_load"], f"< {TARGET_HALF_LOAD_P99_MS}", lambda v: v < 100),
        ("too_late_ms_p99", summary["too_late_ms_p99"], f"< {TARGET_TOO_LATE_P99_MS}", lambda v: v < 50),
        ("exact", summary["exact"], "true", bool),
    ]
    print("\nLucky money grab benchmark")
    for key, value in summary.items():
        print(f"  {key:24} {value}")
    met = True
    for name, value, target, test in checks:
        passed = value is not None and test(value)
        met = met and passed
        print(f"  target {name:17} {value} {target}: {'met' if passed else 'NOT met'}")
    if problems:
        print("  problems: " + "; ".join(problems[:5]))
    if audit_rc:
        print(f"  audit failed:\n{audit_out[-1500:]}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=str))
    if not ok:
        return 130
    return 1 if args.strict and not met else 0


if __name__ == "__main__":
    sys.exit(main())
