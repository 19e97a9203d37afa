"""``perplexity``: how predictable a completion was, token by token, and where it was least so.

Each sample is scored from one of two sources:

- ``logprobs``: the token log-probabilities the backend returned with the generation (the generating model's own
  view of what it wrote). The entropy needs the whole next-token distribution: an entry that carries top-k
  alternatives, ``(token, logprob, {alternative: logprob})``, gives a lower bound (the mass outside the top k counted
  as one outcome); the backends return none today, so ``mean_entropy`` is null on this path.
- ``model``: the completion scored after the prompt by a local HuggingFace causal LM (parameter ``model``, a
  checkpoint directory inside HF_MODEL_DIRS), loaded once per process through the hf backend's cache. One fixed
  scorer makes the numbers comparable across the models evaluated, and its entropy is exact.
"""

import bisect
import math
from dataclasses import dataclass

from .base import BaseMetric, MetricError, MetricInput
from .registry import register_metric

SOURCES = ("auto", "logprobs", "model")
DEFAULT_BATCH_SIZE = 4
DEFAULT_MAX_REGIONS = 3
REGION_TEXT_CHARS = 200
NO_SOURCE = (
    "This sample has no token logprobs from the backend and no scoring model is configured "
    "(metrics: {perplexity: {model: <a checkpoint directory in HF_MODEL_DIRS>}})."
)


@dataclass(frozen=True)
class TokenScores:
    """Log-probabilities (natural log) of a token sequence; entropies of each step's distribution when known."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    entropies: tuple[float, ...] | None


@register_metric
class Perplexity(BaseMetric):
    name = "perplexity"
    description = (
        "Perplexity exp(-mean log p) of the completion's tokens, per-token perplexities, mean entropy (nats), "
        "confidence (mean token probability) and the line ranges whose tokens were least predictable; from the "
        "backend's logprobs, or scored with a local HuggingFace causal LM."
    )
    value_range = (1, None)
    higher_is_better = False
    summary_fields = ("perplexity", "mean_entropy", "confidence")

    @classmethod
    def parameters(cls) -> dict[str, str]:
        return {
            "model": "Scoring model: a checkpoint directory inside HF_MODEL_DIRS (or a Hub id with HF_ALLOW_HUB).",
            "source": "auto (default: the backend's logprobs when it returned them, else the model), logprobs, model.",
            "batch_size": f"Sequences per forward pass of the scoring model (default {DEFAULT_BATCH_SIZE}).",
            "max_regions": f"High-uncertainty line ranges to report per sample (default {DEFAULT_MAX_REGIONS}).",
        }

    def __init__(self, **params):
        super().__init__(**params)
        self.source = params.get("source", "auto")
        if self.source not in SOURCES:
            raise MetricError(f"perplexity: source must be one of {', '.join(SOURCES)}.")
        self.batch_size = _positive(params, "batch_size", DEFAULT_BATCH_SIZE)
        self.max_regions = _positive(params, "max_regions", DEFAULT_MAX_REGIONS)
        self.location = None
        if params.get("model") is not None:
            from models_registry.backends.hf import validate_model_location

            if not isinstance(params["model"], str):
                raise MetricError("perplexity: model must be a checkpoint directory (a string).")
            try:
                self.location = validate_model_location(params["model"])
            except ValueError as exc:
                raise MetricError(f"perplexity: model: {exc}") from exc
        elif self.source == "model":
            raise MetricError("perplexity: source 'model' needs a model (a checkpoint directory in HF_MODEL_DIRS).")

    def compute(self, sample: MetricInput) -> dict:
        result = self.compute_batch([sample])[0]
        if "error" in result:
            raise ValueError(result["error"])
        return result

    def compute_batch(self, samples: list[MetricInput]) -> list[dict]:
        results: list[dict | None] = [None] * len(samples)
        to_score: list[int] = []
        for i, sample in enumerate(samples):
            if self.source != "model" and sample.token_logprobs:
                results[i] = _guarded(lambda s=sample: self._from_logprobs(s))
            elif self.source == "logprobs":
                results[i] = {"error": "The backend returned no token logprobs for this sample."}
            elif self.location is None:
                results[i] = {"error": NO_SOURCE}
            elif not sample.completion:
                results[i] = {"error": "Nothing to score: the completion is empty."}
            else:
                to_score.append(i)
        if to_score:
            pairs = [(samples[i].prompt, samples[i].completion) for i in to_score]
            try:
                scored = score_with_model(self.location, pairs, self.batch_size)
            except Exception as exc:  # the model failed (out of memory...): the samples it scored record why
                scored = [exc] * len(to_score)
            for i, found in zip(to_score, scored, strict=True):
                if isinstance(found, Exception):
                    results[i] = _error(found)
                else:
                    results[i] = _guarded(lambda f=found, s=samples[i]: self._result(f, s.completion, "model", 0))
        return results

    def _from_logprobs(self, sample: MetricInput) -> dict:
        scores = scores_from_logprobs(sample.token_logprobs)
        generated = "".join(scores.tokens)
        start = generated.find(sample.completion) if sample.completion else -1
        return self._result(scores, sample.completion, "logprobs", start)

    def _result(self, scores: TokenScores, completion: str, source: str, start: int) -> dict:
        """``start``: where the completion begins in the tokens' text; -1: not in it (regions are then lines of the
        generated text)."""
        values = scores.logprobs
        if not values:
            raise ValueError("Nothing to score: no tokens.")
        if not all(math.isfinite(v) and v <= 1e-6 for v in values):
            raise ValueError("The token log-probabilities must be finite and at most 0.")
        mean = math.fsum(values) / len(values)
        lines_of = "completion" if start >= 0 else "generation"
        text = completion if start >= 0 else "".join(scores.tokens)
        return {
            "perplexity": math.exp(-mean),
            "token_perplexities": [[t, _exp(-v)] for t, v in zip(scores.tokens, values, strict=True)],
            "mean_entropy": math.fsum(scores.entropies) / len(values) if scores.entropies is not None else None,
            "confidence": math.fsum(math.exp(v) for v in values) / len(values),
            "high_uncertainty_regions": uncertain_regions(
                scores.tokens, values, text=text, start=max(start, 0), limit=self.max_regions
            ),
            "regions_in": lines_of,
            "token_count": len(values),
            "source": source,
        }


def _positive(params: dict, key: str, default: int) -> int:
    value = params.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise MetricError(f"perplexity: {key} must be a whole number of at least 1.")
    return value


def _exp(value: float) -> float:
    return round(math.exp(min(value, 700.0)), 6)


def _error(exc: Exception) -> dict:
    return {"error": f"{type(exc).__name__}: {exc}"[:500]}


def _guarded(compute) -> dict:
    try:
        return compute()
    except Exception as exc:  # one sample's failure is recorded on it, never fails the run
        return _error(exc)


# --- from the backend's logprobs --------------------------------------------------------------------------------------


def scores_from_logprobs(entries) -> TokenScores:
    """Entries ``(token, logprob)`` or ``(token, logprob, top)``, ``top`` a mapping (or pairs) of alternatives."""
    tokens, values, entropies = [], [], []
    for entry in entries:
        tokens.append(str(entry[0]))
        values.append(float(entry[1]))
        top = entry[2] if len(entry) > 2 else None
        entropies.append(_top_entropy(top) if top else None)
    known = None if any(e is None for e in entropies) else tuple(entropies)
    return TokenScores(tokens=tuple(tokens), logprobs=tuple(values), entropies=known)


def _top_entropy(top) -> float:
    """Entropy of a distribution known by its top k: each listed outcome, plus the rest as one outcome (a lower
    bound on the true entropy, since merging outcomes never raises it)."""
    pairs = top.items() if isinstance(top, dict) else top
    probabilities = [math.exp(float(value)) for _, value in pairs]
    rest = max(0.0, 1.0 - math.fsum(probabilities))
    return -math.fsum(p * math.log(p) for p in [*probabilities, rest] if p > 0)


# --- high-uncertainty regions -----------------------------------------------------------------------------------------


def uncertain_regions(tokens, logprobs, *, text: str, start: int, limit: int) -> list[dict]:
    """Line ranges of ``text`` (1-based) whose tokens were least predictable, most uncertain first.

    ``text`` begins at offset ``start`` of the tokens' concatenated text; tokens outside it are left out. A token
    belongs to the line where it starts, and a line's score is the mean log-probability of its tokens. A line is
    flagged when its score is more than one standard deviation below the mean score of the lines (so a text needs
    three lines with tokens before one can stand out); consecutive flagged lines form one region.
    """
    newlines = [i for i, char in enumerate(text) if char == "\n"]
    per_line: dict[int, list[float]] = {}
    offset = 0
    for token, value in zip(tokens, logprobs, strict=True):
        begin, offset = offset - start, offset + len(token)
        if 0 <= begin < len(text):
            per_line.setdefault(bisect.bisect_left(newlines, begin) + 1, []).append(value)
    scores = {line: math.fsum(values) / len(values) for line, values in per_line.items()}
    if len(scores) < 3:
        return []
    mean = math.fsum(scores.values()) / len(scores)
    spread = math.sqrt(math.fsum((v - mean) ** 2 for v in scores.values()) / len(scores))
    flagged = sorted(line for line, score in scores.items() if score < mean - spread)
    runs: list[list[int]] = []
    for line in flagged:
        if runs and line == runs[-1][-1] + 1:
            runs[-1].append(line)
        else:
            runs.append([line])
    lines = text.split("\n")
    regions = []
    for run in runs:
        values = [v for line in run for v in per_line[line]]
        regions.append(
            {
                "start_line": run[0],
                "end_line": run[-1],
                "mean_logprob": round(math.fsum(values) / len(values), 6),
                "min_logprob": round(min(values), 6),
                "tokens": len(values),
                "text": "\n".join(lines[run[0] - 1 : run[-1]])[:REGION_TEXT_CHARS],
            }
        )
    regions.sort(key=lambda r: (r["mean_logprob"], r["start_line"]))
    return regions[:limit]


# --- scored by a local model ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Chunk:
    """One forward pass's input: ``ids[start:end]`` of a sequence, scoring its tokens ``first`` to ``end - 1``."""

    item: int
    start: int
    first: int
    end: int


def _chunks(item: int, length: int, first: int, window: int | None) -> list[_Chunk]:
    """The whole sequence when it fits; else windows in which every scored token sees at least half a window of
    what precedes it (or all of it)."""
    if window is None or length <= window:
        return [_Chunk(item, 0, first, length)]
    stride = max(1, window // 2)
    out, position = [], first
    while position < length:
        end = min(length, position + stride)
        out.append(_Chunk(item, max(0, end - window), position, end))
        position = end
    return out


def score_with_model(location: str, items: list[tuple[str, str]], batch_size: int) -> list[TokenScores | Exception]:
    """Each ``(context, text)``: the log-probability and entropy of every token of ``text`` after ``context``.

    Tokenized as the hf backend's ``score`` does: the context as a completion prompt, the text apart from it, and
    the BOS (or EOS) token as the context when there is none. A failure to load the model is every item's error.
    """
    from models_registry.backends import BackendFailure, EndpointConfig, create_backend

    try:
        loaded = create_backend(EndpointConfig(backend="hf", base_url=location, model=location)).loaded()
    except BackendFailure as exc:
        return [RuntimeError(exc.message)] * len(items)
    import torch

    tokenizer = loaded.tokenizer
    sequences: list[list[int]] = []
    chunks: list[_Chunk] = []
    out: list[TokenScores | Exception | None] = [None] * len(items)
    for item, (context, text) in enumerate(items):
        text_ids = tokenizer(text, add_special_tokens=False).input_ids
        prefix = tokenizer(context).input_ids if context else []
        if not prefix:
            bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
            prefix = [bos] if bos is not None else []
        sequences.append(prefix + text_ids)
        if not text_ids:
            out[item] = ValueError("Nothing to score: the completion has no tokens.")
            continue
        chunks += _chunks(item, len(prefix) + len(text_ids), max(1, len(prefix)), loaded.max_positions)
    parts: dict[int, list[tuple]] = {}
    for chunk, found in zip(chunks, _forward(torch, loaded, sequences, chunks, batch_size), strict=True):
        parts.setdefault(chunk.item, []).append((chunk.first, *found))
    for item, ids in enumerate(sequences):
        if out[item] is not None:
            continue
        first = parts[item][0][0]
        out[item] = TokenScores(
            tokens=tuple(tokenizer.decode([token]) for token in ids[first:]),
            logprobs=tuple(v for _, values, _ in parts[item] for v in values),
            entropies=tuple(v for _, _, values in parts[item] for v in values),
        )
    return out


def _forward(torch, loaded, sequences: list[list[int]], chunks: list[_Chunk], batch_size: int) -> list[tuple]:
    """(logprobs, entropies) of each chunk's scored tokens; chunks of similar length share a padded batch."""
    tokenizer = loaded.tokenizer
    pad = next((t for t in (tokenizer.pad_token_id, tokenizer.eos_token_id) if t is not None), 0)
    order = sorted(range(len(chunks)), key=lambda i: chunks[i].end - chunks[i].start)
    found: list[tuple | None] = [None] * len(chunks)
    with loaded.lock, torch.inference_mode():
        for at in range(0, len(order), batch_size):
            batch = [chunks[i] for i in order[at : at + batch_size]]
            width = max(c.end - c.start for c in batch)
            ids = torch.full((len(batch), width), pad, dtype=torch.long)
            mask = torch.zeros((len(batch), width), dtype=torch.long)
            for row, chunk in enumerate(batch):  # right padding: the real tokens keep their positions
                ids[row, : chunk.end - chunk.start] = torch.tensor(sequences[chunk.item][chunk.start : chunk.end])
                mask[row, : chunk.end - chunk.start] = 1
            logits = loaded.model(input_ids=ids.to(loaded.device), attention_mask=mask.to(loaded.device)).logits
            for row, (index, chunk) in enumerate(zip(order[at : at + batch_size], batch, strict=True)):
                # Double precision from the logits on: the sums over a large vocabulary stay exact enough.
                steps = logits[row, chunk.first - 1 - chunk.start : chunk.end - 1 - chunk.start].double()
                logp = torch.log_softmax(steps, dim=-1)
                targets = ids[row, chunk.first - chunk.start : chunk.end - chunk.start].to(loaded.device)
                chosen = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
                probabilities = logp.exp()
                entropy = -torch.where(probabilities > 0, probabilities * logp, torch.zeros_like(logp)).sum(-1)
                found[index] = (chosen.tolist(), entropy.tolist())
    return found
