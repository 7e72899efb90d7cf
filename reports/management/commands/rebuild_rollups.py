"""manage.py rebuild_rollups [--incremental]: empty the report rollups and apply every event again from the raw rows,
with a progress bar; --incremental only applies what the workers have not applied yet."""

from django.core.management.base import BaseCommand

from reports.services import rollups_apply, rollups_audit, rollups_rebuild

BAR = 30


class Command(BaseCommand):
    help = "Rebuild the report rollups from the raw rows (or, with --incremental, apply what is new), then audit them."

    def add_arguments(self, parser):
        parser.add_argument("--incremental", action="store_true", help="apply new events only, keep the rollups")
        parser.add_argument("--chunk", type=int, default=20000, help="ids per transaction")

    def handle(self, *args, incremental: bool, chunk: int, **options):
        def progress(source: str, done: int, total: int) -> None:
            filled = BAR * done // total if total else BAR
            self.stdout.write(f"\r{source:<32} [{'#' * filled}{'.' * (BAR - filled)}] {done}/{total}", ending="")
            if done >= total:
                self.stdout.write("")
            self.stdout.flush()

        read = (rollups_apply if incremental else rollups_rebuild)(chunk=chunk, progress=progress)
        findings = [finding for found in rollups_audit().values() for finding in found]
        for finding in findings:
            self.stderr.write(finding)
        if findings:
            raise SystemExit(1)
        self.stdout.write(self.style.SUCCESS(f"rollups {'applied' if incremental else 'rebuilt'}: {read} ids read"))
