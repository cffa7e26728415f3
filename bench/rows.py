"""How the bench scripts print their rows: one JSON object a line, or an aligned table for people."""

from __future__ import annotations

import json
from typing import Iterable


def print_rows(rows: Iterable[dict], as_json: bool, *, decimals: int = 3, pack_width: int = 18) -> None:
    for row in rows:
        if as_json:
            print(json.dumps(row, ensure_ascii=False), flush=True)
        else:
            print(f"{row['pack']:>{pack_width}}  {row['measure']:<26} {row['value']:>10.{decimals}f} {row['unit']}",
                  flush=True)
