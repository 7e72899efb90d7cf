"""Hot accounts (issue 13): the accounts every redemption of a campaign touches stop being rows redemptions queue on.

* `posting_mode`: LIVE accounts keep the trigger-maintained balance; BUFFERED and PASS_THROUGH accounts are left
  alone by the trigger — their balance is the roll-up in the `balance` column plus the entries after `watermark`.
* `rebates_entry.xid`: the id of the transaction that wrote the entry; a roll-up takes every entry below the oldest
  transaction still running (all of those have finished), so the watermark never skips a late commit.
* `shard`: floats, LIVE slices of a BUFFERED account that redemptions debit (rebates/floats.py).

The deferred balance trigger, the append-only triggers and the CHECK constraints are untouched (the model field is
renamed `stored_balance`; its column is still `balance`).
"""

from decimal import Decimal

from django.db import migrations, models
from django.db.models import Q

FORWARD = """
ALTER TABLE rebates_entry ADD COLUMN xid bigint NOT NULL DEFAULT 0;
ALTER TABLE rebates_entry ALTER COLUMN xid SET DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX rebates_entry_account_xid ON rebates_entry (account_id, xid) INCLUDE (amount);

CREATE OR REPLACE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Only LIVE accounts move here: a BUFFERED or PASS_THROUGH row is not updated, so not locked, per entry.
    UPDATE rebates_ledgeraccount SET balance = balance + NEW.amount
     WHERE id = NEW.account_id AND posting_mode = 'live';
    RETURN NULL;
END $$;

UPDATE rebates_ledgeraccount
   SET posting_mode = CASE WHEN kind IN ('packets_outstanding', 'rebate_reserve') THEN 'pass_through'
                           ELSE 'buffered' END,
       watermark = pg_current_xact_id()::text::bigint
 WHERE kind IN ('campaign_budget', 'merchant_deposit', 'platform_marketing_pool',
                'packets_outstanding', 'rebate_reserve');
"""

BACKWARD = """
CREATE OR REPLACE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rebates_ledgeraccount SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NULL;
END $$;
DROP INDEX IF EXISTS rebates_entry_account_xid;
ALTER TABLE rebates_entry DROP COLUMN xid;
"""

MONEY = {"max_digits": 14, "decimal_places": 2}
POINTS = "POINTS"


def _checks(field: str) -> list:
    return [
        models.CheckConstraint(
            condition=Q(allow_negative=True) | Q(**{f"{field}__gte": 0}), name="ledger_account_non_negative"
        ),
        models.CheckConstraint(
            condition=~Q(currency=POINTS) | Q(**{field: models.Func(models.F(field), function="trunc")}),
            name="ledger_account_points_whole",
        ),
        models.CheckConstraint(
            condition=~Q(kind__in=["shopper_debt", "merchant_debt"]) | Q(**{f"{field}__lte": 0}),
            name="ledger_account_debt_not_positive",
        ),
    ]


class Migration(migrations.Migration):
    dependencies = [("rebates", "0007_webhooks_package_info")]

    operations = [
        # The column keeps its name and its CHECKs; only Django's name for it changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                *(migrations.RemoveConstraint("ledgeraccount", c.name) for c in _checks("balance")),
                migrations.RenameField("ledgeraccount", "balance", "stored_balance"),
                migrations.AlterField(
                    "ledgeraccount",
                    "stored_balance",
                    models.DecimalField(db_column="balance", default=Decimal("0.00"), editable=False, **MONEY),
                ),
                *(migrations.AddConstraint("ledgeraccount", c) for c in _checks("stored_balance")),
            ]
        ),
        migrations.AddField(
            "ledgeraccount",
            "posting_mode",
            models.CharField(
                choices=[
                    ("live", "live balance"),
                    ("buffered", "buffered credits, checked debits"),
                    ("pass_through", "pass-through"),
                ],
                default="live",
                editable=False,
                max_length=12,
            ),
        ),
        migrations.AddField("ledgeraccount", "watermark", models.BigIntegerField(default=0, editable=False)),
        migrations.AddField("ledgeraccount", "shard", models.PositiveSmallIntegerField(default=0, editable=False)),
        migrations.RemoveConstraint("ledgeraccount", "ledger_account_unique_owner_kind"),
        migrations.AddConstraint(
            "ledgeraccount",
            models.UniqueConstraint(
                fields=["kind", "currency", "user", "merchant", "campaign", "shard"],
                name="ledger_account_unique_owner_kind",
                nulls_distinct=False,
            ),
        ),
        migrations.RunSQL(FORWARD, BACKWARD),
    ]
