"""Exports of an evaluation's detailed results: CSV, and the official harness's ``*_results.jsonl``."""

import csv
import io
import json
from collections.abc import Iterable

CSV_FIELDS = (
    "task_id",
    "model",
    "strategy",
    "sample_index",
    "passed",
    "status",
    "error_category",
    "error_type",
    "error_message",
    "error_line",
    "execution_time",
    "peak_memory_kb",
    "flips",
    "generation_latency_ms",
    "completion_tokens",
)


def export_csv(rows: Iterable[dict]) -> str:
    """One line per sample; formula-looking cells are quoted so spreadsheets do not evaluate model output."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(row.get(k)) for k in CSV_FIELDS})
    return buffer.getvalue()


def _cell(value):
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return "" if value is None else value


def humaneval_result(row: dict) -> str:
    """The official harness's ``result`` string: "passed", "timed out", or "failed: <reason>"."""
    if row["passed"]:
        return "passed"
    if row["status"] == "timeout":
        return "timed out"
    reason = row.get("error_type") or row["status"]
    message = row.get("error_message") or ""
    return f"failed: {reason}{': ' + message if message else ''}"


def export_humaneval_jsonl(rows: Iterable[dict]) -> str:
    """``{"task_id", "completion", "result", "passed"}`` per sample, as ``evaluate_functional_correctness`` writes."""
    lines = []
    for row in rows:
        record = {
            "task_id": row["task_id"],
            "completion": row.get("completion", ""),
            "result": humaneval_result(row),
            "passed": bool(row["passed"]),
        }
        if row.get("model"):
            record["model"] = row["model"]
        lines.append(json.dumps(record))
    return "\n".join(lines) + ("\n" if lines else "")
