"""Batch generation: wall time, the PostgreSQL backend's CPU and this process's peak memory for N packets.

    python -m config.runstack test --durable -- python bench/batch.py                 # 1,000,000 packets
    python -m config.runstack test --durable -- python bench/batch.py --count 200000 --json var/batch.json

One run: migrate; a funded two-way campaign (tests.factories.campaigns.two_way_campaign); packets.batch.packets_generate
in this process — the management command's path — timed, with the backend's CPU read from /proc/<pid>/stat before
and after; then `manage.py audit`. Targets (docs/BATCH.md): 1,000,000 packets in < 30 s with < 500 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != ROOT / "bench"]  # see bench/redemption.py
sys.path.insert(0, str(ROOT))

from bench import common as bc  # noqa: E402


def backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--count", type=int, default=1_000_000, help="packets to generate (default 1,000,000)")
    p.add_argument("--tiers", default="5.00:70,10.00:30", help="amount:weight tiers (default 5.00:70,10.00:30)")
    p.add_argument("--json", type=Path, help="also write the results here as JSON")
    args = p.parse_args(argv)
    bc.require_database_url()
    bc.django_setup()
    load_before = os.getloadavg()
    bc.migrate()
    from django.db import connection

    from packets.batch import packets_generate
    from packets.models import Packet
    from tests.factories.campaigns import two_way_campaign

    campaign = two_way_campaign(budget=str(Decimal(args.count) * 10 + 100))
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid(), (SELECT COUNT(*) FROM packets_packet)")
        backend, rows_before = cursor.fetchone()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    bc.say(f"generating {args.count:,} packets (tiers {args.tiers}; {rows_before:,} packets already there) ...")
    cpu0, t0 = backend_cpu_seconds(backend), time.monotonic()
    batch = packets_generate(campaign=campaign, count=args.count, tiers=args.tiers)
    wall, cpu = time.monotonic() - t0, backend_cpu_seconds(backend) - cpu0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    made = Packet.objects.filter(batch=batch).count()
    rc, audit = bc.manage_audit(bc.subprocess_env())
    results = {
        "count": args.count,
        "generated": made,
        "wall_s": round(wall, 1),
        "backend_cpu_s": round(cpu, 1),
        "peak_rss_mb": round(peak, 1),
        "rss_before_mb": round(rss_before, 1),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "audit_exit_code": rc,
    }
    print(json.dumps(results, indent=2))
    print(audit)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if rc == 0 and made == args.count else 1


if __name__ == "__main__":
    sys.exit(main())
