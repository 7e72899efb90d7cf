"""Generate unclaimed red packets for a campaign (紅包生成), reserving their total from its budget in one go.

python manage.py generate_packets --campaign 3 --count 1000000 --tiers "5.00:70,10.00:30" --valid-days 30
"""

import sys
import time

from django.core.management.base import BaseCommand, CommandError

from campaigns.models import Campaign, EarnRule
from common.errors import ApplicationError
from common.money import format_cny
from packets.batch import CHUNK_SIZE, MAX_COUNT, packets_generate


class ProgressBar:
    """A one-line progress bar on stderr: redrawn in place on a terminal, a line every 10 % otherwise."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.started = time.monotonic()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        fraction = done / total if total else 1.0
        elapsed = time.monotonic() - self.started
        rate = done / elapsed if elapsed > 0 else 0
        filled = int(self.width * fraction)
        line = (
            f"[{'#' * filled}{'.' * (self.width - filled)}] {fraction:6.1%} {done:,}/{total:,} "
            f"{elapsed:5.1f} s {rate:,.0f}/s"
        )
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done >= total else ""))
            self.stream.flush()
        elif int(fraction * 10) > self.last_tenth:
            self.last_tenth = int(fraction * 10)
            self.stream.write(line + "\n")
            self.stream.flush()


class Command(BaseCommand):
    help = (
        "Generate N unclaimed packets (channel 'batch') for a campaign in one transaction: the budget reserves "
        "their total in one ledger transaction, the campaign's packet limit counts them. Refused, with nothing "
        "written, when the budget or the limit cannot take them."
    )

    def add_arguments(self, parser):
        parser.add_argument("--campaign", type=int, required=True, help="campaign id")
        parser.add_argument("--count", type=int, required=True, help=f"packets to generate (1–{MAX_COUNT:,})")
        parser.add_argument(
            "--rule",
            type=int,
            help="earn rule id whose terms the packets take (default: the campaign's manual rule, else its first)",
        )
        parser.add_argument(
            "--tiers",
            default="",
            help='amount:weight pairs, e.g. "5.00:70,10.00:30" (default: the rule\'s tiers, else its packet amount)',
        )
        parser.add_argument("--valid-days", type=int, help="days each packet is valid (default: the rule's)")
        parser.add_argument("--chunk-size", type=int, default=CHUNK_SIZE, help="rows per COPY chunk")
        parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")

    def handle(self, *args, campaign, count, rule, tiers, valid_days, chunk_size, no_progress, **options):
        target = Campaign.objects.filter(pk=campaign).first()
        if target is None:
            raise CommandError(f"No campaign {campaign}.")
        earn_rule = None
        if rule is not None:
            earn_rule = EarnRule.objects.filter(pk=rule, campaign=target).first()
            if earn_rule is None:
                raise CommandError(f"Campaign {campaign} has no earn rule {rule}.")
        if chunk_size < 1:
            raise CommandError("--chunk-size must be positive.")
        started = time.monotonic()
        try:
            batch = packets_generate(
                campaign=target,
                count=count,
                rule=earn_rule,
                tiers=tiers,
                valid_days=valid_days,
                chunk_size=chunk_size,
                progress=None if no_progress else ProgressBar(getattr(self.stderr, "_out", self.stderr)),
            )
        except ApplicationError as exc:
            raise CommandError(f"Refused ({exc.code}): {exc.message} Nothing was written.") from exc
        self.stdout.write(
            self.style.SUCCESS(
                f"Batch {batch.pk}: {batch.count:,} packets, {format_cny(batch.total)} reserved from the budget "
                f"of campaign {target.pk}, in {time.monotonic() - started:.1f} s."
            )
        )
