"""Plotly figures as plain dicts (``{"data": [...], "layout": {...}}``), built from aggregates; pages embed them with
``json_script`` and ``static/frontend/charts.js`` draws them. Labels are data, never markup: plotly sets text."""

from collections import defaultdict
from datetime import timedelta

from evaluations.choices import ErrorCategory

FONT = {"family": "system-ui, -apple-system, Segoe UI, sans-serif", "size": 12}
CATEGORY_LABELS = dict(ErrorCategory.choices)


def _layout(**extra) -> dict:
    return {"margin": {"l": 50, "r": 20, "t": 30, "b": 50}, "font": FONT, "height": 320, **extra}


def pass_at_1_trend(points: list[dict]) -> dict | None:
    """One line per model: pass@1 of each completed run, over time."""
    if not points:
        return None
    series: dict[str, dict] = defaultdict(lambda: {"x": [], "y": [], "text": []})
    for point in points:
        line = series[point["model"]]
        line["x"].append(point["at"].isoformat())
        line["y"].append(point["pass_at_1"])
        line["text"].append(f"evaluation {point['evaluation']}")
    data = [{"type": "scatter", "mode": "lines+markers", "name": model, **values} for model, values in series.items()]
    times = [point["at"] for point in points]
    xaxis: dict = {"type": "date"}
    if max(times) - min(times) < timedelta(hours=1):
        # One moment only (a first run): a day either side, so the axis reads as dates rather than milliseconds.
        xaxis["range"] = [(min(times) - timedelta(days=1)).isoformat(), (max(times) + timedelta(days=1)).isoformat()]
    layout = _layout(yaxis={"title": {"text": "pass@1"}, "range": [0, 1.02]}, xaxis=xaxis)
    return {"data": data, "layout": layout}


def pass_at_k_bars(rows: list[dict]) -> dict | None:
    """Grouped bars of pass@k per model with the bootstrap interval as error bars."""
    names = sorted({name for row in rows for name, _, _ in row["values"]}, key=lambda n: int(n.split("@")[1]))
    if not names:
        return None
    data = []
    for name in names:
        x, y, plus, minus = [], [], [], []
        for row in rows:
            found = next(((v, ci) for n, v, ci in row["values"] if n == name), None)
            if found is None:
                continue
            value, ci = found
            x.append(row["key"])
            y.append(value)
            plus.append(max(0.0, ci[1] - value) if ci else 0)
            minus.append(max(0.0, value - ci[0]) if ci else 0)
        error = {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus}
        data.append({"type": "bar", "name": name, "x": x, "y": y, "error_y": error})
    return {"data": data, "layout": _layout(barmode="group", yaxis={"range": [0, 1.05], "title": {"text": "rate"}})}


def heat_map(counts: list[dict], models: dict[int, str], sample_url: str) -> dict | None:
    """Model x problem grid of pass rates (passed / samples), from the per-(model, problem) aggregate."""
    if not counts:
        return None
    problems: dict[int, tuple[int, str]] = {}
    cells: dict[tuple[int, int], tuple[int, int]] = {}
    for row in counts:
        problems[row["problem_id"]] = (row["problem__ordinal"], row["problem__task_id"])
        n, c = cells.get((row["model_id"], row["problem_id"]), (0, 0))
        cells[(row["model_id"], row["problem_id"])] = (n + row["n"], c + row["c"])
    columns = sorted(problems, key=lambda pk: problems[pk][0])
    rows = [pk for pk in models if any((pk, p) in cells for p in columns)]
    z, text = [], []
    for model_id in rows:
        z.append([_rate(cells.get((model_id, p))) for p in columns])
        text.append([_cell_text(cells.get((model_id, p))) for p in columns])
    trace = {
        "type": "heatmap",
        "x": [problems[p][1] for p in columns],
        "y": [models[m] for m in rows],
        "z": z,
        "text": text,
        "hovertemplate": "%{y} · %{x}<br>%{text}<extra></extra>",
        "zmin": 0,
        "zmax": 1,
        "colorscale": [[0, "#c0392b"], [0.5, "#f1c40f"], [1, "#27ae60"]],
        "colorbar": {"title": {"text": "pass rate"}},
        # Read by charts.js: a click on a cell opens that model's samples of that problem.
        "customdata": [[[m, p] for p in columns] for m in rows],
    }
    layout = _layout(
        height=max(240, 90 + 40 * len(rows)),
        xaxis={"showticklabels": len(columns) <= 60, "automargin": True, "tickangle": -45},
        yaxis={"automargin": True},
    )
    return {"data": [trace], "layout": layout, "click_url": sample_url}


def _rate(cell):
    return round(cell[1] / cell[0], 4) if cell and cell[0] else None


def _cell_text(cell) -> str:
    return f"{cell[1]}/{cell[0]} passed" if cell else "not run"


def error_sunburst(errors: list[dict], models: dict[int, str]) -> dict | None:
    """Failures: model → category family (syntax, semantic, ...) → category, sized by sample count."""
    if not errors:
        return None
    ids, labels, parents, values = [], [], [], []
    families: dict[tuple[int, str], int] = defaultdict(int)
    totals: dict[int, int] = defaultdict(int)
    for row in errors:
        family = row["error_category"].split(".", 1)[0]
        families[(row["model_id"], family)] += row["n"]
        totals[row["model_id"]] += row["n"]
    for model_id, total in totals.items():
        ids.append(f"m{model_id}")
        labels.append(models.get(model_id, str(model_id)))
        parents.append("")
        values.append(total)
    for (model_id, family), total in families.items():
        ids.append(f"m{model_id}/{family}")
        labels.append(family)
        parents.append(f"m{model_id}")
        values.append(total)
    for row in errors:
        family = row["error_category"].split(".", 1)[0]
        if family == row["error_category"]:
            continue  # a family without kinds (crashed, exited_early): the family ring says it all
        ids.append(f"m{row['model_id']}/{row['error_category']}")
        labels.append(CATEGORY_LABELS.get(row["error_category"], row["error_category"]).split(": ")[-1])
        parents.append(f"m{row['model_id']}/{family}")
        values.append(row["n"])
    trace = {
        "type": "sunburst",
        "ids": ids,
        "labels": labels,
        "parents": parents,
        "values": values,
        "branchvalues": "total",
    }
    return {"data": [trace], "layout": _layout(height=420, margin={"l": 0, "r": 0, "t": 10, "b": 10})}


def metric_histograms(distributions: dict[str, dict], models: dict[int, str]) -> list[dict]:
    """One overlaid histogram per metric (bars of database-counted buckets), one colour per model."""
    figures = []
    for name, dist in distributions.items():
        data = [
            {
                "type": "bar",
                "name": models.get(model_id, str(model_id)),
                "x": [round(c, 4) for c in dist["centers"]],
                "y": counts,
                "opacity": 0.75,
            }
            for model_id, counts in dist["counts"].items()
        ]
        layout = _layout(
            height=260,
            barmode="overlay",
            bargap=0.05,
            title={"text": dist["label"], "font": {"size": 13}},
            yaxis={"title": {"text": "samples"}},
        )
        figures.append({"id": f"dist-{name}", "figure": {"data": data, "layout": layout}})
    return figures


def compare_bars(comparisons: list[dict]) -> dict | None:
    """The difference in pass@1 of each model against the baseline, with its paired-bootstrap interval."""
    if not comparisons:
        return None
    x = [getattr(c["other"], "label", c["other"].name) for c in comparisons]
    y = [c["result"].difference for c in comparisons]
    plus = [c["result"].ci_high - c["result"].difference for c in comparisons]
    minus = [c["result"].difference - c["result"].ci_low for c in comparisons]
    trace = {
        "type": "bar",
        "x": x,
        "y": y,
        "error_y": {"type": "data", "symmetric": False, "array": plus, "arrayminus": minus},
    }
    return {"data": [trace], "layout": _layout(yaxis={"title": {"text": "Δ pass@1 vs baseline"}, "zeroline": True})}
