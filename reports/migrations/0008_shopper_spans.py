# The shopper spans (docs/REPORTS.md, "Rollups"): per campaign × shopper and per merchant × shopper, the days they
# appear in the shopper-day rollups as one datemultirange, kept in step with those rollups by statement-level
# triggers. The distinct shoppers of any range are the spans that overlap it: one row per shopper to read instead of
# one per shopper-day, and still exact. Derived, not a model (nothing writes them through Django);
# `reports.services.rollups_audit` checks them against the shopper-day rows.

from django.db import migrations


def _spans(owner: str, *, signups: bool) -> str:
    """The span table of reports_<owner>_shopper_day, its triggers, and its rows from what is there already."""
    day, span, key = f"reports_{owner}_shopper_day", f"reports_{owner}_shopper_span", f"{owner}_id"
    extra_column = ", signup_days datemultirange NOT NULL" if signups else ""
    columns = f"{key}, user_id, days" + (", signup_days" if signups else "")

    def agg(alias: str) -> str:
        days = f"range_agg(daterange({alias}.day, {alias}.day, '[]'))"
        if signups:
            days += f", COALESCE(range_agg(daterange({alias}.day, {alias}.day, '[]')) FILTER (WHERE {alias}.signed_up), '{{}}')"
        return days

    union = "days = s.days + EXCLUDED.days" + (", signup_days = s.signup_days + EXCLUDED.signup_days" if signups else "")
    moved = f"(n.{key}, n.user_id, n.day) IS DISTINCT FROM (o.{key}, o.user_id, o.day)"
    # An update that only adds to a row (the applier's: orders and gross, or signed_up turned on) needs a union at
    # most; a row moved to another key, or a sign-up turned off, has its old pair recomputed from the shopper-days.
    added = moved + (" OR (n.signed_up AND NOT o.signed_up)" if signups else "")
    lost = moved + (" OR (o.signed_up AND NOT n.signed_up)" if signups else "")

    def recompute(pairs: str) -> str:
        return f"""
    DELETE FROM {span} s USING ({pairs}) p WHERE s.{key} = p.{key} AND s.user_id = p.user_id;
    INSERT INTO {span} ({columns})
    SELECT d.{key}, d.user_id, {agg("d")} FROM {day} d
    WHERE (d.{key}, d.user_id) IN ({pairs}) GROUP BY 1, 2;"""

    return f"""
CREATE TABLE {span} (
    {key} bigint NOT NULL, user_id bigint NOT NULL, days datemultirange NOT NULL{extra_column},
    PRIMARY KEY ({key}, user_id)
) WITH (fillfactor = 80);

CREATE FUNCTION {span}_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO {span} AS s ({columns})
    SELECT n.{key}, n.user_id, {agg("n")} FROM new_rows n GROUP BY 1, 2
    ON CONFLICT ({key}, user_id) DO UPDATE SET {union};
    RETURN NULL;
END $$;
CREATE FUNCTION {span}_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {recompute(f"SELECT DISTINCT o.{key}, o.user_id FROM old_rows o JOIN new_rows n ON n.id = o.id WHERE {lost}")}
    INSERT INTO {span} AS s ({columns})
    SELECT n.{key}, n.user_id, {agg("n")} FROM new_rows n JOIN old_rows o ON o.id = n.id WHERE {added} GROUP BY 1, 2
    ON CONFLICT ({key}, user_id) DO UPDATE SET {union};
    RETURN NULL;
END $$;
CREATE FUNCTION {span}_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    {recompute(f"SELECT DISTINCT o.{key}, o.user_id FROM old_rows o")}
    RETURN NULL;
END $$;
CREATE FUNCTION {span}_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE {span};
    RETURN NULL;
END $$;

CREATE TRIGGER {span}_insert AFTER INSERT ON {day} REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {span}_insert();
CREATE TRIGGER {span}_update AFTER UPDATE ON {day} REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {span}_update();
CREATE TRIGGER {span}_delete AFTER DELETE ON {day} REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION {span}_delete();
CREATE TRIGGER {span}_truncate AFTER TRUNCATE ON {day} FOR EACH STATEMENT EXECUTE FUNCTION {span}_truncate();

INSERT INTO {span} ({columns}) SELECT d.{key}, d.user_id, {agg("d")} FROM {day} d GROUP BY 1, 2;
"""


def _unspans(owner: str) -> str:
    day, span = f"reports_{owner}_shopper_day", f"reports_{owner}_shopper_span"
    return "".join(f"DROP TRIGGER {span}_{event} ON {day}; DROP FUNCTION {span}_{event}();\n" for event in (
        "insert", "update", "delete", "truncate"
    )) + f"DROP TABLE {span};\n"


class Migration(migrations.Migration):
    dependencies = [
        ("reports", "0007_field_labels_zh"),
    ]

    operations = [
        migrations.RunSQL(_spans("campaign", signups=True), _unspans("campaign")),
        migrations.RunSQL(_spans("merchant", signups=False), _unspans("merchant")),
    ]
