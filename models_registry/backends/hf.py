"""``hf``: a transformers causal LM run in this process, from a checkpoint directory or (opt-in) a Hub id.

Checkpoints load from HF_MODEL_DIRS only, so that an endpoint cannot make the server read any path it likes; a Hub
id (``org/name``, downloaded into the HuggingFace cache) is accepted only with HF_ALLOW_HUB. Loaded models are kept
for the life of the process, one per (location, device, dtype), and one lock per model serialises the forward passes
(a torch module is not safe to drive from several threads at once). torch and transformers are imported only when a
model is used: the platform runs without the ``ml`` extra, and this backend then answers with an install hint.
"""

import copy
import math
import re
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from .base import BackendFailure, GenerationBackend
from .registry import register_backend
from .types import Capabilities, ErrorKind, FinishReason, GenerationOptions, GenerationRequest, Sample, TokenLogprob

INSTALL_HINT = (
    'The hf backend needs torch and transformers: pip install -e ".[ml]" (or: pip install "codequalbench[ml]").'
)
DEFAULT_MAX_TOKENS = 512
_HUB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}/[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
# The default torch generator is process-wide: a seeded sample is reproducible only if nothing else draws from it
# meanwhile, so every sampling generation (of any model) holds this lock.
_RNG_LOCK = threading.Lock()


def _ml():
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise BackendFailure(ErrorKind.MISSING_DEPENDENCY, INSTALL_HINT) from exc
    return torch, transformers


def _roots() -> list[Path]:
    return [Path(d).expanduser().resolve() for d in settings.HF_MODEL_DIRS]


def validate_model_location(location: str) -> str:
    """A checkpoint directory inside HF_MODEL_DIRS (absolute path), or a Hub id when HF_ALLOW_HUB; else ValueError."""
    location = (location or "").strip()
    roots = _roots()
    where = ", ".join(map(str, roots)) or "none configured"
    if not location:
        hub = " or a HuggingFace Hub id (org/name)" if settings.HF_ALLOW_HUB else ""
        raise ValueError(f"An hf endpoint needs a checkpoint directory inside HF_MODEL_DIRS ({where}){hub}.")
    candidate = Path(location).expanduser()
    if not candidate.is_absolute():
        for root in roots:
            inside = (root / candidate).resolve()
            if inside.is_relative_to(root) and inside.is_dir():
                return str(inside)
        if _HUB_ID_RE.match(location):
            if settings.HF_ALLOW_HUB:
                return location
            raise ValueError(
                f"{location!r} is no directory in HF_MODEL_DIRS ({where}), and HuggingFace Hub ids are refused "
                "here (HF_ALLOW_HUB is off): put the checkpoint in one of those folders."
            )
        if not roots:
            raise ValueError("HF_MODEL_DIRS is empty: no checkpoint directory may be loaded.")
        candidate = roots[0] / candidate
    resolved = candidate.resolve()
    if not any(resolved.is_relative_to(root) for root in roots):
        raise ValueError(f"Checkpoints are loaded from HF_MODEL_DIRS only ({where}); {location!r} is outside them.")
    return str(resolved)


@dataclass(frozen=True)
class ScoreResult:
    """Per-token log-likelihood of a text given a context (natural log)."""

    tokens: tuple[str, ...]
    logprobs: tuple[float, ...]
    total_logprob: float
    token_count: int
    perplexity: float  # exp(-mean logprob)


@dataclass
class LoadedModel:
    model: object
    tokenizer: object
    device: str
    n_params: int
    lock: threading.Lock

    @property
    def max_positions(self) -> int | None:
        value = getattr(self.model.config, "max_position_embeddings", None)
        return value if isinstance(value, int) and value > 0 else None


class _ModelCache:
    """Loaded models by (location, device, dtype), for the life of the process; each is loaded once."""

    _lock = threading.Lock()
    _models: dict[tuple[str, str, str], LoadedModel] = {}
    _loading: dict[tuple[str, str, str], threading.Lock] = {}

    @classmethod
    def get(cls, key: tuple[str, str, str], load: Callable[[], LoadedModel]) -> LoadedModel:
        with cls._lock:
            if key in cls._models:
                return cls._models[key]
            key_lock = cls._loading.setdefault(key, threading.Lock())
        with key_lock:  # one load per key; loading one model does not hold up the others
            with cls._lock:
                loaded = cls._models.get(key)
            if loaded is None:
                loaded = load()
                with cls._lock:
                    cls._models[key] = loaded
        return loaded

    @classmethod
    def clear(cls) -> None:
        with cls._lock:
            cls._models.clear()
            cls._loading.clear()


def clear_model_cache() -> None:
    """Forget every loaded model (their memory is freed once no adapter uses them)."""
    _ModelCache.clear()


def _device(torch) -> str:
    wanted = settings.HF_DEVICE
    mps = getattr(torch.backends, "mps", None)
    available = {"cpu": True, "cuda": torch.cuda.is_available(), "mps": bool(mps and mps.is_available())}
    if wanted != "auto":
        if not available.get(wanted):
            raise BackendFailure(ErrorKind.CONFIGURATION, f"HF_DEVICE is {wanted}, but this machine has no {wanted}.")
        return wanted
    return next(d for d in ("cuda", "mps", "cpu") if available[d])


def _dtype(torch, device: str):
    if device == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def _load(torch, transformers, location: str, device: str, dtype) -> LoadedModel:
    hub = not Path(location).is_absolute()  # a validated location is an absolute directory or a Hub id
    if not hub:
        path = Path(location)
        if not path.is_dir():
            raise BackendFailure(ErrorKind.NOT_FOUND, f"No checkpoint directory {location} (is it in HF_MODEL_DIRS?).")
        if not (path / "config.json").is_file():
            raise BackendFailure(ErrorKind.CONFIGURATION, f"{location} holds no config.json: not a checkpoint.")
    local_only = not (hub and settings.HF_ALLOW_HUB)
    try:
        tokenizer = transformers.AutoTokenizer.from_pretrained(location, local_files_only=local_only)
        model = transformers.AutoModelForCausalLM.from_pretrained(location, local_files_only=local_only, dtype=dtype)
    except (OSError, ValueError, KeyError) as exc:
        raise BackendFailure(ErrorKind.CONFIGURATION, f"Cannot load {location}: {str(exc)[:500]}") from exc
    model.to(device)
    model.eval()
    n_params = sum(p.numel() for p in model.parameters())
    return LoadedModel(model=model, tokenizer=tokenizer, device=device, n_params=n_params, lock=threading.Lock())


def _eos_ids(loaded: LoadedModel) -> set[int]:
    ids = loaded.model.generation_config.eos_token_id
    ids = set(ids if isinstance(ids, list) else [ids] if ids is not None else [])
    if loaded.tokenizer.eos_token_id is not None:
        ids.add(loaded.tokenizer.eos_token_id)
    return ids


def _first_stop(text: str, stops) -> int:
    found = [i for i in (text.find(s) for s in stops or ()) if i >= 0]
    return min(found) if found else -1


def _stop_criterion(transformers, torch, tokenizer, stops: tuple[str, ...], prompt_len: int):
    """Marks each sequence done once its generated text holds a stop sequence; generate ends when all are."""
    window = 4 * max(len(s) for s in stops) + 4  # tokens enough to hold any stop sequence (bytes may be tokens)

    class StopSequences(transformers.StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            tails = tokenizer.batch_decode(input_ids[:, max(prompt_len, input_ids.shape[1] - window) :])
            return torch.tensor([_first_stop(t, stops) >= 0 for t in tails], device=input_ids.device)

    return transformers.StoppingCriteriaList([StopSequences()])


@contextmanager
def _seeded(torch, seed: int | None, device: str):
    """Seed the generators for one call and restore them after, so that later unseeded calls stay random."""
    if seed is None:
        yield
        return
    devices = [torch.device(device).index or 0] if device == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


@register_backend("hf")
class HuggingFaceBackend(GenerationBackend):
    """A local transformers causal LM: n samples in one batched ``generate``, seedable, with token logprobs."""

    @classmethod
    def capabilities(cls) -> Capabilities:
        return Capabilities(
            styles=frozenset({"completion", "chat"}), logprobs=True, native_n=True, streaming=False, seed=True
        )

    @classmethod
    def validate_location(cls, location: str, *, policy=None) -> str:
        return validate_model_location(location)

    def loaded(self) -> LoadedModel:
        """The model and tokenizer (loaded on first use, then shared by every adapter of this process)."""
        torch, transformers = _ml()
        try:
            location = validate_model_location(self.config.base_url)
        except ValueError as exc:
            raise BackendFailure(ErrorKind.URL_REFUSED, str(exc)) from exc
        device = _device(torch)
        dtype = _dtype(torch, device)
        return _ModelCache.get(
            (location, device, str(dtype)), lambda: _load(torch, transformers, location, device, dtype)
        )

    # --- generation ---------------------------------------------------------------------------------------------
    def _prompt_ids(self, loaded: LoadedModel, request: GenerationRequest) -> list[int]:
        tokenizer = loaded.tokenizer
        if self.config.api_style == "chat":
            if not getattr(tokenizer, "chat_template", None):
                raise BackendFailure(
                    ErrorKind.CONFIGURATION,
                    "This checkpoint's tokenizer has no chat template: use the completion style.",
                )
            messages = [{"role": m.role, "content": m.content} for m in request.chat_messages()]
            text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
            ids = tokenizer(text, add_special_tokens=False).input_ids
        else:
            ids = tokenizer(request.prompt).input_ids
        if not ids:
            start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
            if start is None:
                raise BackendFailure(ErrorKind.CONFIGURATION, "The prompt is empty and the tokenizer has no BOS token.")
            ids = [start]
        return ids

    def _generation_config(self, loaded: LoadedModel, options: GenerationOptions, n: int, max_new: int):
        config = copy.deepcopy(loaded.model.generation_config)
        config.num_beams = 1
        config.max_new_tokens = max_new
        config.max_length = None
        if options.temperature is not None:  # None: the checkpoint's own generation_config decides
            config.do_sample = options.temperature > 0
            if config.do_sample:
                config.temperature = options.temperature
                config.top_k = 0  # temperature and top_p only, as the hosted APIs sample
        if options.top_p is not None and config.do_sample:
            config.top_p = options.top_p
        if not config.do_sample:
            config.temperature, config.top_p, config.top_k = None, None, None
        config.num_return_sequences = n if config.do_sample else 1  # greedy: one sequence, repeated n times
        if config.pad_token_id is None:
            config.pad_token_id = loaded.tokenizer.pad_token_id
            if config.pad_token_id is None:
                config.pad_token_id = next(iter(_eos_ids(loaded)), 0)
        return config

    def _generate(self, request: GenerationRequest, options: GenerationOptions):
        torch, transformers = _ml()
        loaded = self.loaded()
        with loaded.lock:
            prompt_ids = self._prompt_ids(loaded, request)
            max_new = options.max_tokens or DEFAULT_MAX_TOKENS
            if loaded.max_positions is not None:
                if len(prompt_ids) >= loaded.max_positions:
                    raise BackendFailure(
                        ErrorKind.CONFIGURATION,
                        f"The prompt is {len(prompt_ids)} tokens; the model reads at most {loaded.max_positions}.",
                    )
                max_new = min(max_new, loaded.max_positions - len(prompt_ids))
            config = self._generation_config(loaded, options, request.n, max_new)
            started = time.monotonic()
            output = self._run(torch, transformers, loaded, prompt_ids, config, options)
            elapsed = time.monotonic() - started
            if elapsed > self.config.timeouts.total:
                raise BackendFailure(
                    ErrorKind.TIMEOUT,
                    f"Generation took longer than {self.config.timeouts.total:g}s.",
                    retryable=False,
                )
            sequences = output.sequences[:, len(prompt_ids) :].tolist()
            chosen = self._chosen_logprobs(torch, output) if options.logprobs else None
            # One batch for all samples: each sample's latency is the batch's divided by n.
            latency = round(elapsed * 1000 / request.n, 1)
            samples = []
            for index in range(request.n):
                row = index if config.do_sample else 0  # greedy: the one sequence, n times
                row_logprobs = chosen[row] if chosen is not None else None
                args = (sequences[row], row_logprobs, options, len(prompt_ids), max_new, latency)
                samples.append(self._sample(loaded, index, *args))
        yield from samples  # outside the lock: the model is free as soon as the batch is decoded

    def _run(self, torch, transformers, loaded: LoadedModel, prompt_ids, config, options: GenerationOptions):
        input_ids = torch.tensor([prompt_ids], device=loaded.device)
        kwargs = {
            "input_ids": input_ids,
            "attention_mask": torch.ones_like(input_ids),
            "generation_config": config,
            "max_time": self.config.timeouts.total,
            "return_dict_in_generate": True,
            "output_logits": bool(options.logprobs),
        }
        if options.stop:
            kwargs["stopping_criteria"] = _stop_criterion(
                transformers, torch, loaded.tokenizer, options.stop, len(prompt_ids)
            )
        rng = _RNG_LOCK if config.do_sample else nullcontext()
        try:
            with rng, _seeded(torch, options.seed if config.do_sample else None, loaded.device), torch.inference_mode():
                return loaded.model.generate(**kwargs)
        except torch.cuda.OutOfMemoryError as exc:
            raise BackendFailure(
                ErrorKind.SERVER_ERROR, "Out of GPU memory: ask for fewer samples or tokens.", retryable=False
            ) from exc
        except (RuntimeError, ValueError) as exc:
            raise BackendFailure(
                ErrorKind.SERVER_ERROR, f"The model failed: {str(exc)[:500]}", retryable=False
            ) from exc

    @staticmethod
    def _chosen_logprobs(torch, output) -> list[list[float]]:
        # Raw logits (before temperature and top_p): the model's own distribution, as ``score`` computes it.
        logits = torch.stack(output.logits, dim=1).float()  # (sequences, steps, vocab)
        steps = logits.shape[1]
        chosen = output.sequences[:, -steps:].unsqueeze(-1)
        return torch.log_softmax(logits, dim=-1).gather(-1, chosen).squeeze(-1).tolist()

    def _sample(self, loaded, index, ids, logprobs, options, prompt_tokens, max_new, latency) -> Sample:
        tokenizer = loaded.tokenizer
        eos = _eos_ids(loaded)
        end = next((i for i, token in enumerate(ids) if token in eos), None)
        kept = ids if end is None else ids[:end]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        cut = _first_stop(text, options.stop)
        if cut >= 0:
            text = text[:cut]
            kept = kept[: self._tokens_to_stop(tokenizer, kept, options.stop)]
            finish = FinishReason.STOP
        elif end is not None:
            finish = FinishReason.STOP
        else:
            finish = FinishReason.LENGTH if len(ids) >= max_new else FinishReason.OTHER
        token_logprobs = None
        if logprobs is not None:
            token_logprobs = tuple(
                TokenLogprob(token=tokenizer.decode([token]), logprob=value)
                for token, value in zip(kept, logprobs, strict=False)
            )
        return Sample(
            index=index,
            text=text,
            finish_reason=finish,
            latency_ms=latency,
            prompt_tokens=prompt_tokens,
            completion_tokens=len(kept),
            logprobs=token_logprobs,
            cost_usd=self.config.cost(prompt_tokens, len(kept)),
        )

    @staticmethod
    def _tokens_to_stop(tokenizer, ids: list[int], stops) -> int:
        """The fewest leading tokens whose text holds a stop sequence (the token that completes it counts)."""
        low, high = 1, len(ids)
        while low < high:
            middle = (low + high) // 2
            if _first_stop(tokenizer.decode(ids[:middle], skip_special_tokens=True), stops) >= 0:
                high = middle
            else:
                low = middle + 1
        return high

    # --- scoring ------------------------------------------------------------------------------------------------
    def score(self, text: str, *, context: str = "") -> ScoreResult:
        """Log-likelihood of each token of ``text`` after ``context``; raises BackendFailure when the model fails.

        ``context`` is tokenized as a completion prompt is, and ``text`` apart from it. With no context the first
        token is scored after the BOS (or EOS) token. Texts longer than the model's positions are scored with a
        sliding window: after the first window, each token sees at least half a window of what precedes it.
        """
        torch, _ = _ml()
        loaded = self.loaded()
        tokenizer = loaded.tokenizer
        with loaded.lock:
            text_ids = tokenizer(text, add_special_tokens=False).input_ids
            if not text_ids:
                raise ValueError("Nothing to score: the text is empty.")
            prefix = tokenizer(context).input_ids if context else []
            if not prefix:
                start = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
                prefix = [start] if start is not None else []
            ids = prefix + text_ids
            values = self._window_logprobs(torch, loaded, ids, first=max(1, len(prefix)))
            tokens = tuple(tokenizer.decode([token]) for token in ids[len(ids) - len(values) :])
        total = math.fsum(values)
        return ScoreResult(
            tokens=tokens,
            logprobs=tuple(values),
            total_logprob=total,
            token_count=len(values),
            perplexity=math.exp(-total / len(values)) if values else math.nan,
        )

    @staticmethod
    def _window_logprobs(torch, loaded: LoadedModel, ids: list[int], *, first: int) -> list[float]:
        window = loaded.max_positions or len(ids)
        stride = window if len(ids) <= window else max(1, window // 2)
        values: list[float] = []
        position = first
        with torch.inference_mode():
            while position < len(ids):
                end = min(len(ids), max(window, position + stride))  # the first window is scored whole
                start = max(0, end - window)
                chunk = torch.tensor([ids[start:end]], device=loaded.device)
                logits = loaded.model(input_ids=chunk).logits[0].float()
                predicted = torch.log_softmax(logits[position - 1 - start : end - 1 - start], dim=-1)
                targets = chunk[0, position - start : end - start].unsqueeze(-1)
                values.extend(predicted.gather(-1, targets).squeeze(-1).tolist())
                position = end
        return values

    # --- health -------------------------------------------------------------------------------------------------
    def _health(self) -> tuple[str, tuple[str, ...]]:
        loaded = self.loaded()
        return f"{loaded.n_params} parameters on {loaded.device}", (self.config.base_url,)
