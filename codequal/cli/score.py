"""``codequalbench score``: score files of (prediction, reference) pairs outside any evaluation."""

import json
from pathlib import Path

import click

from . import fail

MAX_ERRORS_SHOWN = 10


@click.group()
def score():
    """Score pairs of code with a reference metric (no database needed)."""


@score.command("codebleu")
@click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help='JSONL, one pair a line: {"prediction", "reference"} and optionally "lang".',
)
@click.option(
    "--output",
    "output_path",
    required=True,
    type=click.Path(dir_okay=False, writable=True, path_type=Path),
    help="JSONL: each input line with codebleu, ngram_match, weighted_ngram_match, syntax_match, dataflow_match.",
)
@click.option("--lang", default="python", show_default=True, help="Language of pairs that name none.")
@click.option(
    "--weights",
    default="0.25,0.25,0.25,0.25",
    show_default=True,
    help="n-gram, weighted n-gram, syntax and data-flow weights, summing to 1.",
)
def codebleu(input_path: Path, output_path: Path, lang: str, weights: str):
    """CodeBLEU of each pair; the whole file is checked first, and any bad line (named by number) stops the run."""
    from evaluations.metrics.codebleu import CodeBLEUScorer, UnsupportedLanguage, language_name, validate_weights

    try:
        weights_ = validate_weights(w for w in weights.split(","))
        default_lang = language_name(lang)
    except ValueError as exc:
        fail(f"--weights/--lang: {exc}")
    rows, errors = _read_pairs(input_path, default_lang)
    if errors:
        shown = "\n  ".join(errors[:MAX_ERRORS_SHOWN])
        more = f"\n  ... and {len(errors) - MAX_ERRORS_SHOWN} more" if len(errors) > MAX_ERRORS_SHOWN else ""
        fail(f"{input_path}: {len(errors)} bad line(s), nothing written:\n  {shown}{more}")
    scorers: dict[str, CodeBLEUScorer] = {}
    with open(output_path, "w", encoding="utf-8") as out:
        for row, row_lang in rows:
            try:
                scorer = scorers.get(row_lang) or scorers.setdefault(row_lang, CodeBLEUScorer(row_lang, weights_))
            except UnsupportedLanguage as exc:  # checked while reading; kept for a grammar that fails to load
                fail(str(exc))
            found = scorer.score(row["prediction"], row["reference"])
            out.write(json.dumps(row | found.as_dict()) + "\n")
    click.echo(f"Scored {len(rows)} pair(s) -> {output_path}", err=True)


def _read_pairs(path: Path, default_lang: str) -> tuple[list[tuple[dict, str]], list[str]]:
    """The rows with their language, and one message per bad line ("line N: ...")."""
    from evaluations.metrics.codebleu import UnsupportedLanguage, language_name

    rows, errors = [], []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"line {number}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                errors.append(f"line {number}: must be a JSON object")
                continue
            missing = [k for k in ("prediction", "reference") if not isinstance(row.get(k), str)]
            if missing:
                errors.append(f"line {number}: {' and '.join(missing)} must be a string")
                continue
            try:
                row_lang = language_name(row["lang"]) if row.get("lang") is not None else default_lang
            except (UnsupportedLanguage, AttributeError) as exc:
                errors.append(f"line {number}: {exc}")
                continue
            rows.append((row, row_lang))
    return rows, errors
