"""Socrata-shaped TFF rows built from CFTC's recorded annual text file, for the COT tests.

No Socrata answer of the TFF dataset (gpe5-46if) is recorded; CFTC's annual TFF futures-only text file of 2022
is (``../shared/data/cftc/FinFutYY_2022.txt``: CSV, quoted names, space-padded numbers, codes with trailing
spaces, ``.`` for a missing value). The same figures are what Socrata serves, so :func:`tff_rows` turns the
file's rows into the rows Socrata answers to the collector's query, by this transformation:

- only the fields the collector asks for (its ``$select``, collectors.external.cot.SELECTED["tff"]), under
  Socrata's names: the file's column name in lower case with ``-`` as ``_``, except the asset manager,
  leveraged funds and other reportable positions, which Socrata names without ``_all``
  (``asset_mgr_positions_long``; as in a recorded gpe5-46if row);
- every value a JSON string: numbers stripped of the file's space padding, names and codes as the file
  writes them;
- the report date as Socrata's floating timestamp (``2022-08-16T00:00:00.000``);
- ``contract_market_name`` (a Socrata column the file lacks) is the market name before `` - ``;
- a ``.`` (missing) leaves the field out, as Socrata does;
- rows in the collector's ``$order`` (newest report first, then contract code).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Collection
from pathlib import Path
from typing import Final

from collectors.external.cot import SELECTED

TFF_FILE: Final = Path("cftc") / "FinFutYY_2022.txt"
"""Relative to ../shared/data."""
SOCRATA_NAMES: Final = {
    f"{category}_Positions_{side}_All": f"{category.lower()}_positions_{side.lower()}"
    for category in ("Asset_Mgr", "Lev_Money", "Other_Rept")
    for side in ("Long", "Short", "Spread")
}
"""Text-file columns whose Socrata name is not the column name in lower case."""


def socrata_name(column: str) -> str:
    return SOCRATA_NAMES.get(column, column.lower().replace("-", "_"))


def tff_rows(shared_data: Path, markets: Collection[str], weeks: int) -> list[dict[str, str]]:
    """The Socrata rows of ``markets`` (contract market names) for the newest ``weeks`` report dates of the file."""
    reader = csv.DictReader(io.StringIO((shared_data / TFF_FILE).read_text(encoding="ascii")))
    rows = []
    for record in reader:
        row: dict[str, str] = {}
        for column, value in record.items():
            name = socrata_name(column)
            if name in SELECTED["tff"] and value.strip() != ".":
                row[name] = value if name.startswith("cftc_") or name.endswith("_names") else value.strip()
        row["report_date_as_yyyy_mm_dd"] = f"{record['Report_Date_as_YYYY-MM-DD']}T00:00:00.000"
        row["contract_market_name"] = record["Market_and_Exchange_Names"].split(" - ", 1)[0]
        if row["contract_market_name"] in markets:
            rows.append(row)
    newest = sorted({row["report_date_as_yyyy_mm_dd"] for row in rows}, reverse=True)[:weeks]
    kept = [row for row in rows if row["report_date_as_yyyy_mm_dd"] in newest]
    kept.sort(key=lambda row: row["cftc_contract_market_code"])
    kept.sort(key=lambda row: row["report_date_as_yyyy_mm_dd"], reverse=True)
    return kept
