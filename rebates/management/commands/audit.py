from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from rebates.audit import run_audit


class Command(BaseCommand):
    help = "Prove the books: balanced transactions, balances equal entries, rebates match their rules, outbox done."

    def add_arguments(self, parser):
        parser.add_argument(
            "--outbox-grace", type=float, default=0, help="Seconds an outbox event may still be pending."
        )

    def handle(self, *args, outbox_grace, **options):
        results = run_audit(outbox_grace=timedelta(seconds=outbox_grace))
        failed = 0
        for check, findings in results.items():
            mark = "ok  " if not findings else "FAIL"
            self.stdout.write(f"[{mark}] {check}")
            for finding in findings:
                self.stdout.write(f"       - {finding}")
            failed += len(findings)
        if failed:
            raise CommandError(f"audit found {failed} problem(s)")
        self.stdout.write(self.style.SUCCESS("audit clean"))
