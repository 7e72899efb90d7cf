"""An index for the detectors' window scans (antifraud/detectors.py): every detector reads the earning events of one
kind (or a few kinds) since a point in time, which the (ip|device|user, at) indexes cannot serve.

Raw SQL without state operations: the model does not declare it, so `makemigrations` never tries to remove it.
Built CONCURRENTLY, so adding it to a busy production table does not block the earning paths."""

from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("antifraud", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(
            sql="CREATE INDEX CONCURRENTLY IF NOT EXISTS earning_kind_at ON antifraud_earningevent (kind, at)",
            reverse_sql="DROP INDEX CONCURRENTLY IF EXISTS earning_kind_at",
        ),
    ]
