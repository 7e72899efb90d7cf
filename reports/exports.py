"""The report's tables, as the page shows them and as CSV and XLSX export them (one table per CSV, all as sheets
of one workbook)."""

import csv
import io
import re
from dataclasses import dataclass
from decimal import Decimal

from django.utils.translation import gettext_lazy as _
from openpyxl import Workbook

from rebates.models import Rebate

FORM_LABELS = dict(Rebate.Form.choices)


@dataclass(frozen=True)
class Table:
    name: str  # the CSV's ?table= and the sheet's name
    title: str
    headers: tuple[str, ...]
    rows: list[tuple]


def _count_value(figure: dict) -> tuple:
    return figure["count"], figure["value"]


def report_tables(report: dict) -> list[Table]:
    p, c = report["packets"], report["cashback"]
    a = report["activity_lift"]
    summary = [
        (_("shoppers taking part"), report["participants"]),
        (_("new sign-ups"), report["new_signups"]),
        (_("packets issued"), p["issued"]["count"]),
        (_("value issued"), p["issued"]["value"]),
        (_("packets claimed"), p["claimed"]["count"]),
        (_("value claimed"), p["claimed"]["value"]),
        (_("packets used"), p["used"]["count"]),
        (_("value used"), p["used"]["value"]),
        (_("packets expired"), p["expired"]["count"]),
        (_("value expired"), p["expired"]["value"]),
        (_("usage rate"), p["usage_rate"]),
        (_("cashback to issuers"), c["issuer"]),
        (_("cashback to holders"), c["holder"]),
        (_("program rewards"), c["program_rewards"]),
        (_("cashback reversed"), c["reversed"]),
        (_("net cashback"), c["net"]),
        *((_("cashback as %(form)s") % {"form": FORM_LABELS[form]}, value) for form, value in c["by_form"].items()),
        (_("sales driven"), report["sales_driven"]),
        (_("packet value spent"), report["packet_value_spent"]),
        (_("cost"), report["cost"]),
        (_("ROI"), report["roi"]),
        (_("merchant sales"), report["merchant_sales"]),
        (_("sales a year before"), report["sales_yoy"]["previous"]),
        (_("year-on-year change"), report["sales_yoy"]["change"]),
        (_("sales a month before"), report["sales_mom"]["previous"]),
        (_("month-on-month change"), report["sales_mom"]["change"]),
        (_("active shoppers"), a["active_shoppers"]),
        (_("active shoppers, period before"), a["active_shoppers_before"]),
        (_("orders per shopper"), a["orders_per_shopper"]),
        (_("orders per shopper, period before"), a["orders_per_shopper_before"]),
        (_("orders lift"), a["orders_lift"]),
        (_("sales per shopper"), a["sales_per_shopper"]),
        (_("sales per shopper, period before"), a["sales_per_shopper_before"]),
        (_("sales lift"), a["sales_lift"]),
    ]
    tables = [
        Table(
            "summary",
            str(_("Summary")),
            (str(_("figure")), str(_("amount or count"))),
            [(str(k), v) for k, v in summary],
        ),
        Table(
            "daily",
            str(_("Day by day")),
            tuple(
                str(h)
                for h in (
                    _("day"),
                    _("packets issued"),
                    _("value issued"),
                    _("packets used"),
                    _("value used"),
                    _("net cashback"),
                    _("sales driven"),
                )
            ),
            [
                (
                    d["day"],
                    d["issued_count"],
                    d["issued_value"],
                    d["used_count"],
                    d["used_value"],
                    d["cashback"],
                    d["sales_driven"],
                )
                for d in report["daily"]
            ],
        ),
    ]
    breakdown_titles = {
        "tier": _("By packet amount"),
        "trigger": _("By earn trigger"),
        "channel": _("By issuance channel"),
        "province": _("By province"),
    }
    headers = tuple(
        str(h)
        for h in (
            _("breakdown value"),
            _("packets issued"),
            _("value issued"),
            _("packets used"),
            _("value used"),
            _("usage rate"),
            _("sales driven"),
            _("net cashback"),
        )
    )
    for dimension, title in breakdown_titles.items():
        rows = [
            (
                r["label"],
                *_count_value(r["issued"]),
                *_count_value(r["used"]),
                r["usage_rate"],
                r["sales_driven"],
                r["cashback"],
            )
            for r in report["breakdowns"][dimension]
        ]
        tables.append(Table(f"by_{dimension}", str(title), headers, rows))
    tables.append(
        Table(
            "categories",
            str(_("Category shares of sales")),
            (str(_("category")), str(_("sales")), str(_("share of sales"))),
            [(r["category"], r["sales"], r["share"]) for r in report["category_shares"]],
        )
    )
    return tables


def table_csv(table: Table) -> bytes:
    """UTF-8 with a byte-order mark, so spreadsheet programs read the Chinese labels right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(table.headers)
    writer.writerows(("" if v is None else v for v in row) for row in table.rows)
    return ("\ufeff" + out.getvalue()).encode()


_DECIMAL = re.compile(r"^-?[0-9]+\.[0-9]+$")


def _cell(value):
    """Amounts and ratios (decimal strings) become numbers in the sheet; labels and days stay text."""
    return Decimal(value) if isinstance(value, str) and _DECIMAL.match(value) else value


def tables_xlsx(tables: list[Table]) -> bytes:
    workbook = Workbook(write_only=True)
    for table in tables:
        sheet = workbook.create_sheet(table.name[:31])
        sheet.append(list(table.headers))
        for row in table.rows:
            sheet.append([_cell(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
