"""``codequalbench analyze``: read a ``results.json`` written by ``codequalbench evaluate`` (no database needed).

summary: per-model pass@k with intervals, rates, timing and quality; compare: two models on the same problems,
paired bootstrap and McNemar's exact test; errors: what went wrong, per model, down to the errors app's fine-grained
error types and pattern signatures; trends: how each error type's share moves across runs.
"""

import json
from collections import Counter, defaultdict
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from . import fail

ALPHA = 0.05
UNCATEGORIZED = "uncategorized"
input_option = click.option(
    "--input",
    "input_path",
    required=True,
    type=click.Path(dir_okay=False),
    help="A results.json written by `codequalbench evaluate --output`.",
)


def load_document(path: str) -> dict:
    """The results document, checked for the parts the commands read; a clear error (exit 2) otherwise."""
    try:
        document = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"No such file: {path}", code=2)
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"Cannot read {path}: {exc}", code=2)
    except json.JSONDecodeError as exc:
        fail(f"{path} is not JSON ({exc}); expected the results.json of `codequalbench evaluate`.", code=2)
    if not isinstance(document, dict):
        fail(f"{path} is not a results document: expected a JSON object.", code=2)
    problems = []
    if not isinstance(document.get("by_model"), dict):
        problems.append("'by_model' (an object)")
    rows = document.get("detailed_results")
    if not isinstance(rows, list):
        problems.append("'detailed_results' (a list)")
    elif not all(isinstance(r, dict) and {"task_id", "model", "passed"} <= set(r) for r in rows):
        problems.append("detailed_results rows with task_id, model and passed")
    if problems:
        fail(f"{path} is not a results.json of `codequalbench evaluate`: it lacks {', '.join(problems)}.", code=2)
    return document


def _console() -> Console:
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _number(value, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _strategies(rows: list[dict]) -> list[str]:
    return sorted({r.get("strategy") or "zero_shot" for r in rows})


def row_key(row: dict, several_strategies: bool) -> str:
    """The name a sample's model goes by in ``by_model``: ``name``, or ``name@strategy`` with several strategies."""
    return f"{row['model']}@{row.get('strategy') or 'zero_shot'}" if several_strategies else row["model"]


def model_names(document: dict) -> list[str]:
    names = list(document["by_model"])
    several = len(_strategies(document["detailed_results"])) > 1
    for row in document["detailed_results"]:
        key = row_key(row, several)
        if key not in names:
            names.append(key)
    return names


def per_problem(document: dict) -> dict[str, dict[str, tuple[int, int]]]:
    """model name -> task_id -> (samples, passed)."""
    several = len(_strategies(document["detailed_results"])) > 1
    counts: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for row in document["detailed_results"]:
        cell = counts[row_key(row, several)][row["task_id"]]
        cell[0] += 1
        cell[1] += bool(row["passed"])
    return {name: {task: (n, c) for task, (n, c) in tasks.items()} for name, tasks in counts.items()}


@click.group("analyze")
def analyze():
    """Analyze a results.json from `codequalbench evaluate`: summary, compare, errors, trends."""


# --- summary ---------------------------------------------------------------------------------------------------------


def _ks(by_model: dict) -> list[int]:
    keys = {key for block in by_model.values() for key in (block.get("pass_at_k") or {})}
    return sorted(int(key.split("@", 1)[1]) for key in keys if key.startswith("pass@")) or [1]


def summary_table(by_model: dict) -> Table:
    ks = _ks(by_model)
    table = Table(title="Results by model")
    table.add_column("model")
    for k in ks:
        table.add_column(f"pass@{k} [95% CI]", justify="right")
    for column in ("pass rate", "error rate", "samples", "mean time (s)", "complexity", "maintainability"):
        table.add_column(column, justify="right")
    for name, block in by_model.items():
        cells = []
        for k in ks:
            value = (block.get("pass_at_k") or {}).get(f"pass@{k}")
            ci = (block.get("confidence_intervals") or {}).get(f"pass@{k}")
            text = "n/a" if value is None else f"{value:.3f}"
            cells.append(f"{text} [{ci[0]:.3f}, {ci[1]:.3f}]" if value is not None and ci else text)
        quality = block.get("quality") or {}
        table.add_row(
            name,
            *cells,
            _number(block.get("pass_rate")),
            _number(block.get("error_rate")),
            str(block.get("samples", "-")),
            _number((block.get("execution_time_s") or {}).get("mean"), 4),
            _number((quality.get("cyclomatic_complexity") or {}).get("mean"), 2),
            _number((quality.get("maintainability_index") or {}).get("mean"), 1),
        )
    return table


@analyze.command("summary")
@input_option
def summary(input_path):
    """Per model: pass@k with 95% intervals, pass and error rates, samples, mean execution time, quality means."""
    document = load_document(input_path)
    console = _console()
    if not document["by_model"]:
        fail(f"{input_path} holds no model results.", code=2)
    console.print(summary_table(document["by_model"]))
    head = document.get("summary") or {}
    if head:
        suite = head.get("suite") or {}
        console.print(
            f"{head.get('total_evaluations', '?')} samples on {head.get('total_problems', '?')} problems of "
            f"{suite.get('name', '?')} v{suite.get('version', '?')}; overall pass rate "
            f"{_number(head.get('overall_pass_rate'))}; status {head.get('status', '?')}."
        )


# --- compare ---------------------------------------------------------------------------------------------------------


def comparison(document: dict, a: str | None, b: str | None, *, resamples: int, seed: int) -> dict:
    from evaluations.statistics import paired_comparison

    names = model_names(document)
    listed = ", ".join(names) or "none"
    if len(names) < 2:
        fail(f"Comparing needs two models; this file has {len(names)}: {listed}.", code=2)
    a = a or next(n for n in names if n != b)
    b = b or next(n for n in names if n != a)
    for option, name in (("--a", a), ("--b", b)):
        if name not in names:
            fail(f"{option} {name!r} is not in this file; available: {listed}.", code=2)
    if a == b:
        fail(f"--a and --b name the same model ({a}); available: {listed}.", code=2)
    counts = per_problem(document)
    try:
        result = paired_comparison(counts.get(a, {}), counts.get(b, {}), resamples=resamples, seed=seed)
    except ValueError as exc:
        fail(f"Cannot compare {a} and {b}: {exc}.", code=2)
    significant = result.p_value < ALPHA
    if not significant:
        verdict = f"no significant difference at {ALPHA}"
    else:
        better = "B" if result.b_only > result.a_only else "A"
        verdict = f"{better} is better (p={result.p_value:.4g})"
    return {
        "a": a,
        "b": b,
        "problems": result.problems,
        "pass_at_1_a": result.pass_at_1_a,
        "pass_at_1_b": result.pass_at_1_b,
        "difference": result.difference,
        "ci": [result.ci_low, result.ci_high],
        "confidence": 0.95,
        "resamples": resamples,
        "seed": seed,
        "mcnemar": {
            "a_only": result.a_only,
            "b_only": result.b_only,
            "both": result.both,
            "neither": result.neither,
            "p_value": result.p_value,
        },
        "alpha": ALPHA,
        "significant": significant,
        "verdict": verdict,
    }


@analyze.command("compare")
@input_option
@click.option("--a", "name_a", help="Model A (default: the first model).")
@click.option("--b", "name_b", help="Model B (default: the second model).")
@click.option("--resamples", type=click.IntRange(100, 100_000), help="Bootstrap resamples (default: the run's).")
@click.option("--seed", type=click.IntRange(0, 2**31 - 1), help="Bootstrap seed (default: the run's).")
@click.option("--json", "as_json", is_flag=True, help="Print the comparison as JSON.")
def compare(input_path, name_a, name_b, resamples, seed, as_json):
    """Model B against model A on the problems both ran: pass@1, the difference with a 95% paired-bootstrap
    interval, and McNemar's exact test (a problem counts as solved when at least half its samples pass)."""
    document = load_document(input_path)
    config = document.get("config") or {}
    out = comparison(
        document,
        name_a,
        name_b,
        resamples=resamples or int(config.get("bootstrap_resamples") or 2000),
        seed=seed if seed is not None else int(config.get("seed") or 0),
    )
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    m = out["mcnemar"]
    low, high = out["ci"]
    lines = [
        f"A: {out['a']}",
        f"B: {out['b']}",
        f"Problems in common: {out['problems']}",
        f"pass@1  A {out['pass_at_1_a']:.4f}   B {out['pass_at_1_b']:.4f}",
        f"Difference (B - A): {out['difference']:+.4f}, 95% paired-bootstrap CI [{low:+.4f}, {high:+.4f}]",
        f"McNemar: A only {m['a_only']}, B only {m['b_only']}, both {m['both']}, neither {m['neither']}; "
        f"exact p = {m['p_value']:.4g}",
        f"Verdict: {out['verdict']}",
    ]
    click.echo("\n".join(lines))


# --- errors ----------------------------------------------------------------------------------------------------------


def _message(row: dict) -> str:
    text = (row.get("error_message") or "").strip().splitlines()
    return text[0][:120] if text else ""


def error_report(document: dict, *, top: int, model: str | None) -> dict:
    several = len(_strategies(document["detailed_results"])) > 1
    rows_by_model: dict[str, list[dict]] = {name: [] for name in model_names(document)}
    for row in document["detailed_results"]:
        rows_by_model.setdefault(row_key(row, several), []).append(row)
    if model is not None:
        if model not in rows_by_model:
            fail(f"--model {model!r} is not in this file; available: {', '.join(rows_by_model) or 'none'}.", code=2)
        rows_by_model = {model: rows_by_model[model]}
    report = {}
    for name, rows in rows_by_model.items():
        failed = [r for r in rows if not r["passed"]]
        categories = Counter(r.get("error_category") or UNCATEGORIZED for r in failed)
        kinds: Counter = Counter()
        example: dict[tuple[str, str], str] = {}
        for r in failed:
            key = (r.get("error_type") or r.get("status") or "failed", _message(r))
            kinds[key] += 1
            example.setdefault(key, r["task_id"])
        report[name] = {
            **pattern_report(rows, top=top),
            "samples": len(rows),
            "failed": len(failed),
            "categories": [
                {
                    "category": category,
                    "count": count,
                    "percent_of_samples": round(100 * count / len(rows), 2),
                    "percent_of_failures": round(100 * count / len(failed), 2),
                }
                for category, count in sorted(categories.items(), key=lambda item: (-item[1], item[0]))
            ],
            "top_errors": [
                {"error_type": kind, "message": message, "count": count, "example_task_id": example[(kind, message)]}
                for (kind, message), count in sorted(kinds.items(), key=lambda item: (-item[1], item[0]))[:top]
            ],
        }
    return report


@analyze.command("errors")
@input_option
@click.option("--top", type=click.IntRange(1, 1000), default=10, show_default=True, help="Error types to list.")
@click.option("--model", help="Only this model.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def errors(input_path, top, model, as_json):
    """Per model: failures per error category (count and share), the most frequent error types and messages, each
    with an example task_id; then the fine-grained error types and the top pattern clusters (signature, message,
    failing construct, suggested fix)."""
    report = error_report(load_document(input_path), top=top, model=model)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = _console()
    for name, block in report.items():
        console.print(f"[bold]{name}[/bold]: {block['failed']} of {block['samples']} samples failed")
        if not block["failed"]:
            continue
        categories = Table(title=f"{name}: error categories")
        for column in ("category", "count", "% of samples", "% of failures"):
            categories.add_column(column, justify="left" if column == "category" else "right")
        for row in block["categories"]:
            categories.add_row(
                row["category"],
                str(row["count"]),
                f"{row['percent_of_samples']:.1f}%",
                f"{row['percent_of_failures']:.1f}%",
            )
        console.print(categories)
        kinds = Table(title=f"{name}: top {top} errors")
        for column in ("count", "error type", "message", "example"):
            kinds.add_column(column, justify="right" if column == "count" else "left")
        for row in block["top_errors"]:
            kinds.add_row(str(row["count"]), row["error_type"], row["message"] or "-", row["example_task_id"])
        console.print(kinds)
        _print_patterns(console, name, block, top)


# --- fine-grained errors and patterns (errors app, pure: no database) -------------------------------------------------


def _diagnosed(rows: list[dict]) -> list[tuple[dict, object, object]]:
    """(row, diagnosis, signature) for each failed row, classified from the row alone."""
    from errors.classification import diagnose
    from errors.facts import facts_from_result
    from errors.signatures import signature_of

    out = []
    for row in rows:
        if row.get("passed"):
            continue
        facts = facts_from_result(row)
        diagnosis = diagnose(facts)
        out.append((row, diagnosis, signature_of(facts, diagnosis)))
    return out


def pattern_report(rows: list[dict], *, top: int) -> dict:
    """Fine-grained error types and the top pattern clusters of ``rows`` (each cluster with a suggested fix)."""
    from errors.recommendations import merge_details, suggested_fix
    from errors.signatures import cluster_signatures, construct_shape

    diagnosed = _diagnosed(rows)
    leaves = Counter(d.leaf.value for _, d, _ in diagnosed)
    clusters = cluster_signatures([s for _, _, s in diagnosed])
    groups: dict[str, list] = defaultdict(list)
    for row, diagnosis, signature in diagnosed:
        groups[clusters[signature.hash]].append((row, diagnosis, signature))
    patterns = []
    for head, members in groups.items():
        details: dict = {}
        for _, diagnosis, _ in members:
            details = merge_details(details, diagnosis.specifics)
        _, first_diagnosis, first_signature = next(m for m in members if m[2].hash == head)
        patterns.append(
            {
                "signature": head,
                "error_type": first_diagnosis.leaf.value,
                "message": first_signature.message,
                "construct": construct_shape(first_signature.construct),
                "count": len(members),
                "signatures": len({m[2].hash for m in members}),
                "example_task_id": members[0][0]["task_id"],
                "suggested_fix": suggested_fix(first_diagnosis.leaf.value, details),
            }
        )
    patterns.sort(key=lambda p: (-p["count"], p["error_type"], p["signature"]))
    failed = len(diagnosed)
    return {
        "error_types": [
            {"error_type": leaf, "count": count, "percent_of_failures": round(100 * count / failed, 2)}
            for leaf, count in sorted(leaves.items(), key=lambda item: (-item[1], item[0]))
        ],
        "unique_patterns": len(patterns),
        "patterns": patterns[:top],
    }


def _print_patterns(console: Console, name: str, block: dict, top: int) -> None:
    leaves = Table(title=f"{name}: fine-grained error types")
    for column in ("error type", "count", "% of failures"):
        leaves.add_column(column, justify="left" if column == "error type" else "right")
    for row in block["error_types"]:
        leaves.add_row(row["error_type"], str(row["count"]), f"{row['percent_of_failures']:.1f}%")
    console.print(leaves)
    patterns = Table(title=f"{name}: top {top} of {block['unique_patterns']} patterns")
    for column in ("count", "error type", "message", "construct", "signature", "example"):
        patterns.add_column(column, justify="right" if column == "count" else "left")
    for row in block["patterns"]:
        patterns.add_row(
            str(row["count"]),
            row["error_type"],
            row["message"] or "-",
            row["construct"] or "-",
            row["signature"][:12],
            row["example_task_id"],
        )
    console.print(patterns)


# --- trends ----------------------------------------------------------------------------------------------------------


def trend_report(documents: list[tuple[str, dict]], *, group_by: str) -> dict:
    """Each fine-grained error type's share of the failures, per run (and per model), in the order given."""
    runs = [label for label, _ in documents]
    shares: dict[str, dict[str, dict[str, float]]] = defaultdict(lambda: defaultdict(dict))
    failures: dict[str, dict[str, int]] = defaultdict(dict)
    for label, document in documents:
        several = len(_strategies(document["detailed_results"])) > 1
        by_group: dict[str, Counter] = defaultdict(Counter)
        for row, diagnosis, _ in _diagnosed(document["detailed_results"]):
            group = row_key(row, several) if group_by == "model" else "all"
            by_group[group][diagnosis.leaf.value] += 1
        for group, leaves in by_group.items():
            total = sum(leaves.values())
            failures[group][label] = total
            for leaf, count in leaves.items():
                shares[group][leaf][label] = round(count / total, 4)
    out = {}
    for group in sorted(shares):
        rows = []
        for leaf in sorted(shares[group]):
            values = [shares[group][leaf].get(run, 0.0) for run in runs]
            rows.append(
                {
                    "error_type": leaf,
                    "shares": dict(zip(runs, values, strict=True)),
                    "change": round(values[-1] - values[0], 4),
                }
            )
        rows.sort(key=lambda r: (-max(r["shares"].values()), r["error_type"]))
        out[group] = {"failures": {run: failures[group].get(run, 0) for run in runs}, "error_types": rows}
    return {"runs": runs, "group_by": group_by, "groups": out}


@analyze.command("trends")
@click.option(
    "--input",
    "inputs",
    required=True,
    help="Comma-separated results.json files of `codequalbench evaluate`, oldest first: a.json,b.json,c.json.",
)
@click.option("--group-by", type=click.Choice(["model", "run"]), default="run", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print the trends as JSON.")
def trends(inputs, group_by, as_json):
    """How each fine-grained error type's share of the failures moves across runs (per model with --group-by model)."""
    paths = [p.strip() for p in inputs.split(",") if p.strip()]
    if len(paths) < 2:
        fail("--input needs at least two results files, comma-separated.", code=2)
    labels = [Path(p).stem for p in paths]
    if len(set(labels)) < len(labels):
        labels = paths
    report = trend_report(
        [(label, load_document(p)) for label, p in zip(labels, paths, strict=True)], group_by=group_by
    )
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = _console()
    for group, block in report["groups"].items():
        table = Table(title=f"{group}: share of failures per error type")
        table.add_column("error type")
        for run in report["runs"]:
            table.add_column(f"{run} ({block['failures'][run]})", justify="right")
        table.add_column("change", justify="right")
        for row in block["error_types"]:
            table.add_row(
                row["error_type"], *(f"{100 * v:.1f}%" for v in row["shares"].values()), f"{100 * row['change']:+.1f}pp"
            )
        console.print(table)


# --- correlate -------------------------------------------------------------------------------------------------------


def correlation_report(document: dict, variables: list[str], *, method: str) -> dict:
    from evaluations.correlation import VariableError, correlate

    try:
        return correlate(document["detailed_results"], variables, method=method)
    except VariableError as exc:
        fail(str(exc), code=2)


def _p_value(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" + (" *" if value < ALPHA else "")


@analyze.command("correlate")
@input_option
@click.option(
    "--variables",
    required=True,
    help="Comma-separated: pass_rate (the outcome) and per-sample metrics, e.g. pass_rate,perplexity,codebleu. A "
    "metric stands for its main value (security: score, ast_similarity: similarity); metric.field names another "
    "field (perplexity.mean_entropy); quality fields (maintainability_index) and execution_time work too.",
)
@click.option(
    "--method",
    type=click.Choice(["auto", "t"]),
    default="auto",
    show_default=True,
    help="p-values: auto is exact (every permutation) for n <= 8, else the t-distribution; t: always the latter.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the correlations as JSON.")
def correlate_command(input_path, variables, method, as_json):
    """Per model: Spearman's rho between passing (1/0 per sample) and each variable, over the samples that have it,
    with their number and a two-sided p-value (* below 0.05)."""
    report = correlation_report(load_document(input_path), variables.split(","), method=method)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    console = _console()
    for name, block in report["models"].items():
        console.print(
            f"[bold]{name}[/bold]: Spearman with passing ({block['samples']} samples, "
            f"pass rate {block['pass_rate']:.3f})"
        )
        table = Table()
        for column in ("variable", "n", "rho", "p-value", "note"):
            table.add_column(column, justify="left" if column in ("variable", "note") else "right")
        for variable, found in block["correlations"].items():
            table.add_row(variable, str(found["n"]), _number(found["rho"]), _p_value(found["p_value"]), found["note"])
        console.print(table)
