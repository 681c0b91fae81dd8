"""Writing benchmark results: the raw JSON and the table beside it, as
Markdown (to read) and CSV (included by ``docs/benchmarks.rst``), each
written to a temporary file and renamed."""
from __future__ import annotations

import csv
import io
import json
import os
from typing import List, Sequence

from topogcn.utils.io import atomic_write_text


def markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in body]
    return "\n".join(lines)


def save(json_path: str, meta: dict, rows: List[dict], header: Sequence[str],
         body: Sequence[Sequence[str]]) -> str:
    """Write ``json_path`` and the table as ``.md`` and ``.csv`` beside it;
    return the Markdown table."""
    atomic_write_text(json_path, json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    return save_table(os.path.splitext(json_path)[0], header, body)


def save_table(stem: str, header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """Write the table as ``stem.md`` and ``stem.csv``; return the Markdown."""
    table = markdown(header, body)
    atomic_write_text(stem + ".md", table + "\n")
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(body)
    atomic_write_text(stem + ".csv", buf.getvalue())
    return table


def load(json_path: str) -> dict:
    with open(json_path) as f:
        return json.load(f)
