"""Generation for one chunk: prompt strategies build requests, the cache answers what it can, the backend the rest.

Model outputs are cached by (endpoint settings, strategy, request, options, sample index, seed), per project: a
re-run or a resumed run never asks the model again for a sample it already has. Backends that answer from the
benchmark itself (``samples``, ``reference``) are not cached: they are local and exact.
"""

import hashlib
import json
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, replace

from models_registry.backends import GenerationBackend, GenerationOptions, GenerationRequest
from models_registry.prompting import PromptStrategy, PromptTask

from ..models import GenerationCacheEntry

MAX_BATCH = 100


@dataclass(frozen=True)
class Generated:
    """One sample's text and how it was made (a frozen value: threads hand these back)."""

    index: int
    text: str
    program: bool = False
    finish_reason: str = ""
    latency_ms: float | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    mean_logprob: float | None = None
    cost_usd: float | None = None
    from_cache: bool = False
    token_logprobs: tuple[tuple[str, float], ...] | None = None


@dataclass(frozen=True)
class Job:
    """The samples still missing for one (problem, strategy)."""

    problem_id: int
    task: PromptTask
    strategy: PromptStrategy
    indices: tuple[int, ...]


@dataclass(frozen=True)
class JobResult:
    job: Job
    samples: tuple[Generated, ...]
    error: str = ""
    stop: tuple[str, ...] | None = None  # the stop sequences the request used: completions are cut at the same ones


def _mean_logprob(sample) -> float | None:
    if not sample.logprobs:
        return None
    return sum(t.logprob for t in sample.logprobs) / len(sample.logprobs)


def cache_key(endpoint_fingerprint: str, strategy: PromptStrategy, request: GenerationRequest, index: int) -> str:
    payload = {
        "endpoint": endpoint_fingerprint,
        "strategy": strategy.fingerprint(),
        "prompt": request.prompt,
        "system": request.system,
        "messages": [asdict(m) for m in request.messages],
        "options": request.options.to_dict(),
        "index": index,
        "seed": request.options.seed,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class Generator:
    """Generates the missing samples of a chunk for one model."""

    def __init__(
        self,
        *,
        backend: GenerationBackend,
        project_id: int,
        endpoint_fingerprint: str,
        api_style: str,
        options: GenerationOptions,
        concurrency: int,
    ):
        self.backend = backend
        self.capabilities = backend.capabilities()
        self.project_id = project_id
        self.fingerprint = endpoint_fingerprint
        self.api_style = api_style
        self.options = options
        self.concurrency = max(1, concurrency)
        self.cached = not self.capabilities.verbatim

    def run(self, jobs: Iterable[Job]) -> list[JobResult]:
        jobs = [job for job in jobs if job.indices]
        requests = {
            id(job): job.strategy.build(job.task, api_style=self.api_style, n=1, options=self.options) for job in jobs
        }
        hits = self._cache_lookup(jobs, requests) if self.cached else {}
        pending: list[tuple[Job, GenerationRequest, tuple[int, ...]]] = []
        for job in jobs:
            request = requests[id(job)]
            missing = tuple(i for i in job.indices if (id(job), i) not in hits)
            for batch in self._batches(missing):
                pending.append((job, request, batch))
        with ThreadPoolExecutor(max_workers=min(self.concurrency, max(1, len(pending)))) as pool:
            produced = list(pool.map(lambda item: self._generate(*item), pending))
        fresh: dict[int, list[Generated]] = {}
        errors: dict[int, str] = {}
        for (job, _request, _batch), (samples, error) in zip(pending, produced, strict=True):
            fresh.setdefault(id(job), []).extend(samples)
            if error:
                errors[id(job)] = error
        if self.cached:
            self._cache_store(jobs, requests, fresh)
        results = []
        for job in jobs:
            samples = [hits[(id(job), i)] for i in job.indices if (id(job), i) in hits] + fresh.get(id(job), [])
            results.append(
                JobResult(
                    job=job,
                    samples=tuple(sorted(samples, key=lambda s: s.index)),
                    error=errors.get(id(job), ""),
                    stop=requests[id(job)].options.stop,
                )
            )
        return results

    def _batches(self, indices: tuple[int, ...]) -> list[tuple[int, ...]]:
        if not indices:
            return []
        if self.options.seed is not None or not self.capabilities.native_n:
            # A fixed seed makes sample i use seed + i: one request per index keeps that exact for any subset.
            return [(i,) for i in indices]
        batches, current = [], [indices[0]]
        for index in indices[1:]:
            if index == current[-1] + 1 and len(current) < MAX_BATCH:
                current.append(index)
            else:
                batches.append(tuple(current))
                current = [index]
        batches.append(tuple(current))
        return batches

    def _generate(self, job: Job, request: GenerationRequest, batch: tuple[int, ...]):
        # The strategy's request carries the options it settled (e.g. its stop sequences); only the seed moves.
        options = request.options
        if options.seed is not None:
            options = replace(options, seed=options.seed + batch[0])
        result = self.backend.generate(replace(request, n=len(batch), first_index=batch[0], options=options))
        samples = [
            Generated(
                index=batch[position],
                text=sample.text,
                program=sample.program,
                finish_reason=str(sample.finish_reason),
                latency_ms=sample.latency_ms,
                prompt_tokens=sample.prompt_tokens,
                completion_tokens=sample.completion_tokens,
                mean_logprob=_mean_logprob(sample),
                cost_usd=sample.cost_usd,
                token_logprobs=tuple((t.token, t.logprob) for t in sample.logprobs) if sample.logprobs else None,
            )
            for position, sample in enumerate(result.samples[: len(batch)])
        ]
        return samples, (result.error.message if result.error else "")

    def _keys(self, job: Job, request: GenerationRequest) -> dict[int, str]:
        return {i: cache_key(self.fingerprint, job.strategy, request, i) for i in job.indices}

    def _cache_lookup(self, jobs, requests) -> dict[tuple[int, int], Generated]:
        wanted = {}
        for job in jobs:
            for index, key in self._keys(job, requests[id(job)]).items():
                wanted[key] = (id(job), index)
        hits = {}
        keys = list(wanted)
        for start in range(0, len(keys), 500):
            for entry in GenerationCacheEntry.objects.filter(
                project_id=self.project_id, key__in=keys[start : start + 500]
            ):
                job_id, index = wanted[entry.key]
                hits[(job_id, index)] = Generated(
                    index=index,
                    text=entry.text,
                    program=entry.program,
                    finish_reason=entry.finish_reason,
                    latency_ms=entry.latency_ms,
                    prompt_tokens=entry.prompt_tokens,
                    completion_tokens=entry.completion_tokens,
                    mean_logprob=entry.mean_logprob,
                    cost_usd=entry.cost_usd,
                    from_cache=True,
                    token_logprobs=tuple(tuple(t) for t in entry.token_logprobs) if entry.token_logprobs else None,
                )
        return hits

    def _cache_store(self, jobs, requests, fresh) -> None:
        # Stored at once, outside the chunk's transaction: generations are the expensive part and must survive a
        # chunk that fails later (a crash in execution, a cancel).
        entries = []
        for job in jobs:
            keys = self._keys(job, requests[id(job)])
            for sample in fresh.get(id(job), []):
                entries.append(
                    GenerationCacheEntry(
                        project_id=self.project_id,
                        key=keys[sample.index],
                        text=sample.text,
                        program=sample.program,
                        finish_reason=sample.finish_reason,
                        latency_ms=sample.latency_ms,
                        prompt_tokens=sample.prompt_tokens,
                        completion_tokens=sample.completion_tokens,
                        mean_logprob=sample.mean_logprob,
                        cost_usd=sample.cost_usd,
                        token_logprobs=[list(t) for t in sample.token_logprobs] if sample.token_logprobs else None,
                    )
                )
        if entries:
            GenerationCacheEntry.objects.bulk_create(entries, ignore_conflicts=True, batch_size=500)
