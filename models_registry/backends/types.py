"""What crosses the boundary to a model backend: frozen dataclasses in, frozen dataclasses out."""

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum

from ..urlguard import UrlPolicy


class FinishReason(StrEnum):
    STOP = "stop"  # end of text or a stop sequence
    LENGTH = "length"  # max_tokens reached
    CONTENT_FILTER = "content_filter"
    OTHER = "other"
    UNKNOWN = "unknown"


class ErrorKind(StrEnum):
    TIMEOUT = "timeout"
    CONNECTION = "connection"
    RATE_LIMITED = "rate_limited"
    SERVER_ERROR = "server_error"
    AUTHENTICATION = "authentication"
    NOT_FOUND = "not_found"
    CLIENT_ERROR = "client_error"
    MALFORMED_RESPONSE = "malformed_response"
    URL_REFUSED = "url_refused"
    CONFIGURATION = "configuration"
    MISSING_DEPENDENCY = "missing_dependency"


class OptionsError(ValueError):
    """Invalid generation options; ``errors`` maps each option to what is wrong with it."""

    def __init__(self, errors: dict[str, str]):
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def _number(value, name, errors, *, kind, low, high):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or (kind is int and not isinstance(value, int)):
        errors[name] = f"must be {'an integer' if kind is int else 'a number'}"
        return None
    if not low <= value <= high:
        errors[name] = f"must be between {low} and {high}"
        return None
    return kind(value)


@dataclass(frozen=True)
class GenerationOptions:
    """Sampling options; None (or an empty stop list) means "not set": the endpoint default or the server's applies."""

    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None

    @classmethod
    def from_mapping(cls, data: Mapping | None) -> "GenerationOptions":
        """Validate a JSON mapping (endpoint defaults, API input); raises OptionsError naming every bad option."""
        data = dict(data or {})
        errors: dict[str, str] = {}
        known = {f.name for f in fields(cls)}
        for name in sorted(set(data) - known):
            errors[name] = f"unknown option (known: {', '.join(sorted(known))})"
        stop = data.get("stop")
        if isinstance(stop, str):
            stop = [stop]
        if stop is not None and (
            not isinstance(stop, list | tuple) or not all(isinstance(s, str) and s for s in stop) or len(stop) > 16
        ):
            errors["stop"] = "must be a list of at most 16 non-empty strings"
            stop = None
        logprobs = data.get("logprobs")
        if logprobs is not None and not isinstance(logprobs, bool):
            errors["logprobs"] = "must be true or false"
            logprobs = None
        options = cls(
            temperature=_number(data.get("temperature"), "temperature", errors, kind=float, low=0, high=2),
            top_p=_number(data.get("top_p"), "top_p", errors, kind=float, low=0, high=1),
            max_tokens=_number(data.get("max_tokens"), "max_tokens", errors, kind=int, low=1, high=1_000_000),
            stop=tuple(stop) if stop is not None else None,
            seed=_number(data.get("seed"), "seed", errors, kind=int, low=0, high=2**63 - 1),
            logprobs=logprobs,
            top_logprobs=_number(data.get("top_logprobs"), "top_logprobs", errors, kind=int, low=0, high=20),
        )
        if errors:
            raise OptionsError(errors)
        return options

    def over(self, defaults: "GenerationOptions") -> "GenerationOptions":
        """These options where set, ``defaults`` elsewhere."""
        return replace(defaults, **{k: v for k, v in asdict(self).items() if v is not None})

    def to_dict(self) -> dict:
        """The options that are set, as JSON (what an endpoint stores)."""
        out = {k: v for k, v in asdict(self).items() if v is not None}
        if "stop" in out:
            out["stop"] = list(out["stop"])
        return out

    def for_sample(self, index: int) -> "GenerationOptions":
        # A fixed seed gives every sample of a request its own reproducible seed; otherwise n samples would be equal.
        return self if self.seed is None else replace(self, seed=self.seed + index)


@dataclass(frozen=True)
class ChatMessage:
    role: str  # "system", "user" or "assistant"
    content: str


@dataclass(frozen=True)
class GenerationRequest:
    """Generate ``n`` samples for ``prompt``.

    Completion-style endpoints continue ``prompt`` verbatim; chat-style endpoints send ``messages`` when given, else
    ``system`` (if any) and ``prompt`` as the user's message. Prompt strategies build these. ``task_id`` and
    ``reference`` (the problem's canonical completion) are for the backends that answer from the benchmark itself
    rather than from a model: ``samples`` and ``reference``.
    """

    prompt: str
    n: int = 1
    options: GenerationOptions = field(default_factory=GenerationOptions)
    system: str = ""
    messages: tuple[ChatMessage, ...] = ()
    task_id: str = ""
    reference: str = ""
    first_index: int = 0  # for ``samples``: the file's samples first_index .. first_index + n - 1

    def chat_messages(self) -> tuple[ChatMessage, ...]:
        if self.messages:
            return self.messages
        system = (ChatMessage("system", self.system),) if self.system else ()
        return (*system, ChatMessage("user", self.prompt))


@dataclass(frozen=True)
class TokenLogprob:
    token: str
    logprob: float


@dataclass(frozen=True)
class Sample:
    """One generated completion."""

    index: int
    text: str
    finish_reason: FinishReason
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    logprobs: tuple[TokenLogprob, ...] | None = None
    cost_usd: float | None = None
    program: bool = False  # ``text`` is a whole program (an EvalPlus ``solution``), not a continuation of the prompt


@dataclass(frozen=True)
class BackendError:
    """Why a call failed, in words for the user; ``kind`` for code that decides what to do next."""

    kind: ErrorKind
    message: str
    status_code: int | None = None
    attempts: int = 1


@dataclass(frozen=True)
class GenerationResult:
    """The samples generated (all of them when ``ok``; those before the failure otherwise) and the error if any."""

    samples: tuple[Sample, ...]
    error: BackendError | None
    latency_ms: float
    attempts: int
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class HealthReport:
    healthy: bool
    message: str
    latency_ms: float
    models: tuple[str, ...] = ()
    error: BackendError | None = None


@dataclass(frozen=True)
class Capabilities:
    styles: frozenset[str]  # ApiStyle values the backend serves
    logprobs: bool
    native_n: bool  # n samples in one request (otherwise one request per sample)
    streaming: bool
    seed: bool
    verbatim: bool = False  # outputs are used as given: no stop-sequence cut, no code extraction
    fixed_samples: bool = False  # the backend holds a set number of samples per task (``sample_count``)


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 4
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 120.0  # a server asking for a longer wait ends the call with a clear error


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 300.0  # per read: between streamed chunks, or for the whole body when not streaming
    total: float = 900.0  # one attempt, however the server trickles


@dataclass(frozen=True)
class EndpointConfig:
    """Everything an adapter needs about one endpoint; built by the registry from a ModelEndpoint row."""

    backend: str
    base_url: str
    model: str
    api_style: str = "completion"
    stream: bool = False
    api_key: str = field(default="", repr=False)
    default_options: GenerationOptions = field(default_factory=GenerationOptions)
    max_concurrency: int = 4
    limiter_key: str = ""  # endpoints sharing it share concurrency and rate limits (default: backend + URL + model)
    rate_limit_per_minute: int | None = None  # requests (attempts, retries included) a minute; None: unlimited
    rate_limit_redis_url: str = field(default="", repr=False)  # shares the rate limit across processes; "": per process
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    url_policy: UrlPolicy = field(default_factory=lambda: UrlPolicy(allow_loopback=False, allow_private=False))
    input_cost_per_mtok: float | None = None
    output_cost_per_mtok: float | None = None

    def cost(self, prompt_tokens: int | None, completion_tokens: int | None) -> float | None:
        if None in (self.input_cost_per_mtok, self.output_cost_per_mtok, prompt_tokens, completion_tokens):
            return None
        return (prompt_tokens * self.input_cost_per_mtok + completion_tokens * self.output_cost_per_mtok) / 1e6
