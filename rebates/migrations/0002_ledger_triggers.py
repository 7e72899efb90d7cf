"""The database itself keeps the books honest, whoever writes to it (ORM or raw SQL):

* every ledger transaction must sum to zero per currency — checked by a DEFERRED constraint trigger at COMMIT;
* entries are append-only — UPDATE and DELETE are refused;
* an account's stored balance moves with each entry in the same statement, and a CHECK refuses a negative
  balance on accounts that are not allowed one.
"""

from django.db import migrations

FORWARD = """
CREATE FUNCTION ledger_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT a.currency, SUM(e.amount) AS total INTO bad
      FROM rebates_entry e JOIN rebates_ledgeraccount a ON a.id = e.account_id
     WHERE e.transaction_id = NEW.transaction_id
     GROUP BY a.currency
    HAVING SUM(e.amount) <> 0
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'ledger transaction % is unbalanced: % %', NEW.transaction_id, bad.total, bad.currency
              USING ERRCODE = '23514';
    END IF;
    RETURN NULL;
END $$;

CREATE CONSTRAINT TRIGGER ledger_entry_balanced
    AFTER INSERT ON rebates_entry
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION ledger_check_balanced();

CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on % is refused: the ledger is append-only', TG_OP, TG_TABLE_NAME USING ERRCODE = '55000';
END $$;

CREATE TRIGGER ledger_entry_append_only
    BEFORE UPDATE OR DELETE ON rebates_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE TRIGGER ledger_transaction_append_only
    BEFORE UPDATE OR DELETE ON rebates_ledgertransaction
    FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change();

CREATE FUNCTION ledger_apply_entry() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE rebates_ledgeraccount SET balance = balance + NEW.amount WHERE id = NEW.account_id;
    RETURN NULL;
END $$;

CREATE TRIGGER ledger_entry_apply
    AFTER INSERT ON rebates_entry
    FOR EACH ROW EXECUTE FUNCTION ledger_apply_entry();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS ledger_entry_apply ON rebates_entry;
DROP FUNCTION IF EXISTS ledger_apply_entry();
DROP TRIGGER IF EXISTS ledger_transaction_append_only ON rebates_ledgertransaction;
DROP TRIGGER IF EXISTS ledger_entry_append_only ON rebates_entry;
DROP FUNCTION IF EXISTS ledger_refuse_change();
DROP TRIGGER IF EXISTS ledger_entry_balanced ON rebates_entry;
DROP FUNCTION IF EXISTS ledger_check_balanced();
"""


class Migration(migrations.Migration):
    dependencies = [("rebates", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
