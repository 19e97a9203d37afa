"""Django settings: every value comes from the environment (documented in .env.example).

With no variables set the platform runs embedded: SQLite under CODEQUAL_DATA_DIR, jobs in-process, an in-memory
channel layer. DATABASE_URL and REDIS_URL switch to PostgreSQL, RQ workers and a Redis channel layer.
"""

import os
import secrets
import sys
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

# The key shipped in .env.example: a production start with it is refused.
EXAMPLE_SECRET_KEY = "change-me-to-a-long-random-string-before-running-in-production"  # noqa: S105 - published on purpose, to be refused

env = environ.Env()
_env_file = os.environ.get("CODEQUAL_ENV_FILE", str(BASE_DIR / ".env"))
if Path(_env_file).is_file():
    environ.Env.read_env(_env_file, overwrite=False)

DEBUG = env.bool("DEBUG", default=True)

DATA_DIR = Path(env.str("CODEQUAL_DATA_DIR", default=str(Path.home() / ".local" / "share" / "codequalbench")))
DATA_DIR = DATA_DIR.expanduser().resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    key = env.str("SECRET_KEY", default="")
    if not DEBUG:
        if not key:
            raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
        if key == EXAMPLE_SECRET_KEY or key.startswith("django-insecure") or len(key) < 32:
            raise ImproperlyConfigured(
                "Refusing to start with DEBUG off and the example (or a short) SECRET_KEY: "
                "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(50))'`."
            )
        return key
    if key:
        return key
    # Embedded/development mode: one random key per data directory, so sessions and tokens survive restarts
    # without a well-known key ever signing anything.
    key_file = DATA_DIR / "secret_key"
    if not key_file.exists():
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(50))
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "guardian",
    "channels",
    "django_rq",
    "accounts",
    "models_registry",
    "evaluations",
    "errors",
    "tuning",
    "frontend",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "codequal.urls"
WSGI_APPLICATION = "codequal.wsgi.application"
ASGI_APPLICATION = "codequal.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------------------------------
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("DATABASE_CONN_MAX_AGE", default=60))
        DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "codequal.sqlite3",
            # WAL + IMMEDIATE transactions let in-process jobs write while the web process reads.
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: queues, channel layer, cache ------------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")

if REDIS_URL:
    RQ_QUEUES = {
        "default": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env.int("RQ_DEFAULT_TIMEOUT", default=6 * 3600)},
        "gpu": {"URL": REDIS_URL, "DEFAULT_TIMEOUT": env.int("RQ_GPU_TIMEOUT", default=24 * 3600)},
    }
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}},
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    RQ_QUEUES = {}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "frontend:login"
LOGIN_REDIRECT_URL = "frontend:home"
LOGOUT_REDIRECT_URL = "frontend:login"
GUARDIAN_RAISE_403 = False
GUARDIAN_RENDER_403 = False
ANONYMOUS_USER_NAME = None  # no guardian anonymous user: anonymous requests see nothing

JWT_ACCESS_TOKEN_LIFETIME = env.int("JWT_ACCESS_TOKEN_LIFETIME", default=3600)
SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(seconds=JWT_ACCESS_TOKEN_LIFETIME),
    "SIGNING_KEY": env.str("JWT_SIGNING_KEY", default=SECRET_KEY),
    "AUTH_HEADER_TYPES": ("Bearer",),
    "UPDATE_LAST_LOGIN": False,
}

LOGIN_THROTTLE_RATE = env.str("LOGIN_THROTTLE_RATE", default="10/min")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.ApiTokenAuthentication",
        "accounts.authentication.BearerJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["codequal.api.permissions.ScopedPermission"],
    "DEFAULT_PAGINATION_CLASS": "codequal.api.pagination.StandardPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "codequal.api.exceptions.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": LOGIN_THROTTLE_RATE,
        "login_username": LOGIN_THROTTLE_RATE,
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "CodeQualBench API",
    "DESCRIPTION": "Evaluate AI code-generation models: suites, sandboxed runs, metrics, error analysis, tuning.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": r"/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "ProjectRoleEnum": "accounts.choices.ProjectRole",
        "OrganizationRoleEnum": "accounts.choices.OrganizationRole",
    },
}

# --- Jobs ---------------------------------------------------------------------------------------------------------
# Without REDIS_URL, jobs run in this process: "thread" (background, the web stays responsive) or "sync".
CODEQUAL_INLINE_JOBS = env.str("CODEQUAL_INLINE_JOBS", default="thread")
if CODEQUAL_INLINE_JOBS not in {"thread", "sync"}:
    raise ImproperlyConfigured("CODEQUAL_INLINE_JOBS must be 'thread' or 'sync'.")
# Seconds one evaluation chunk (a model on a slice of problems) may run on an RQ worker before RQ stops it; the
# chunk is then retried, and what it wrote is kept.
EVALUATION_CHUNK_TIMEOUT = env.int("EVALUATION_CHUNK_TIMEOUT", default=3600)
# Extra per-sample metrics: dotted paths of BaseMetric subclasses (evaluations.metrics), selectable per evaluation.
CODEQUAL_METRIC_PLUGINS = env.list("CODEQUAL_METRIC_PLUGINS", default=[])

# --- Sandbox: where model-written programs run ----------------------------------------------------------------------
# "auto" (bubblewrap, refusing to start without it), "bwrap", or "subprocess" (NO isolation: trusted code only).
SANDBOX_BACKEND = env.str("SANDBOX_BACKEND", default="auto")
# Warm runners working in parallel (0: one per CPU core, plus one).
SANDBOX_WORKERS = env.int("SANDBOX_WORKERS", default=0)
# Default per-program limits (evaluations may override them).
SANDBOX_TIMEOUT_S = env.float("SANDBOX_TIMEOUT_S", default=3.0)
SANDBOX_MEMORY_MB = env.int("SANDBOX_MEMORY_MB", default=512)
SANDBOX_OUTPUT_BYTES = env.int("SANDBOX_OUTPUT_BYTES", default=1 << 20)
SANDBOX_MAX_PROCESSES = env.int("SANDBOX_MAX_PROCESSES", default=64)
# Size of each jail's private writable /tmp, in MiB.
SANDBOX_TMP_MB = env.int("SANDBOX_TMP_MB", default=64)
# Unprivileged ids programs run as (also when the platform runs as root).
SANDBOX_UID = env.int("SANDBOX_UID", default=65534)
SANDBOX_GID = env.int("SANDBOX_GID", default=65534)
# A runner (one jail) is replaced after this many programs, and after any anomaly.
# Each program runs in a fresh process whatever this is; a runner (its supervisor and checker) is replaced after this
# many programs as a precaution. Over 9,000 programs one runner's supervisor stayed at 6.4 MB and its checker grew by
# ~40 kB per 1,000 (its spec cache is bounded), and a replacement costs ~50 ms of CPU.
SANDBOX_RECYCLE_AFTER = env.int("SANDBOX_RECYCLE_AFTER", default=5000)
# Where execution environments (packages for programs, e.g. numpy) are installed.
SANDBOX_ENVIRONMENTS_DIR = Path(env.str("SANDBOX_ENVIRONMENTS_DIR", default=str(DATA_DIR / "environments")))
# Docker backend (SANDBOX_BACKEND=docker): the image runners start from — an official slim Python image of this
# interpreter's major.minor, so the execution environment's packages (mounted read-only) load in it — and the CPUs
# each runner container may use.
SANDBOX_DOCKER_IMAGE = env.str(
    "SANDBOX_DOCKER_IMAGE", default=f"python:{sys.version_info.major}.{sys.version_info.minor}-slim"
)
SANDBOX_DOCKER_CPUS = env.float("SANDBOX_DOCKER_CPUS", default=1.0)

# --- Static files, i18n, logging ------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(DATA_DIR / "static")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_ROOT = DATA_DIR / "media"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

SESSION_COOKIE_SECURE = not DEBUG and env.bool("SECURE_COOKIES", default=True)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_TLS_PROXY", default=False) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = SECURE_HSTS_SECONDS > 0

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

WHITENOISE_USE_FINDERS = DEBUG
WHITENOISE_AUTOREFRESH = DEBUG
SPECTACULAR_SETTINGS.update(
    {
        "SWAGGER_UI_DIST": "SIDECAR",
        "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
        "REDOC_DIST": "SIDECAR",
    }
)

# --- Model endpoints and generation backends ------------------------------------------------------------------------
# Secrets used to encrypt model API keys at rest (comma-separated; the first encrypts, all decrypt). Empty: derived
# from SECRET_KEY, so changing SECRET_KEY then means entering stored model keys again.
MODEL_KEY_ENCRYPTION_KEYS = env.list("MODEL_KEY_ENCRYPTION_KEYS", default=[])
# SSRF guard: link-local and cloud-metadata addresses are always refused. Loopback and private-network endpoints are
# allowed by default only with DEBUG on (a local install talking to Ollama on localhost); a shared server must opt in.
MODEL_ALLOW_LOOPBACK_URLS = env.bool("MODEL_ALLOW_LOOPBACK_URLS", default=DEBUG)
MODEL_ALLOW_PRIVATE_URLS = env.bool("MODEL_ALLOW_PRIVATE_URLS", default=DEBUG)
# Environment variables an endpoint may name as its key (e.g. OPENAI_API_KEY). Empty: endpoints store keys encrypted
# only. Listing one lets every evaluator of every project use that server-wide key, at a base URL of their choice.
MODEL_API_KEY_ENV_ALLOWLIST = env.list("MODEL_API_KEY_ENV_ALLOWLIST", default=[])
# Default base URLs for endpoints registered without one (the variables the backends' own tools read).
OLLAMA_HOST = env.str("OLLAMA_HOST", default="http://127.0.0.1:11434")
OPENAI_BASE_URL = env.str("OPENAI_BASE_URL", default="https://api.openai.com/v1")
ANTHROPIC_BASE_URL = env.str("ANTHROPIC_BASE_URL", default="https://api.anthropic.com")
GEMINI_BASE_URL = env.str("GEMINI_BASE_URL", default="https://generativelanguage.googleapis.com")
# Pre-generated samples files (the ``samples`` backend) are read from this folder only, so that an endpoint cannot
# name any file on the server; the CLI copies a file it is given into it, under a name holding its SHA-256.
SAMPLES_DIR = Path(env.str("SAMPLES_DIR", default=str(DATA_DIR / "samples"))).expanduser().resolve()
# Local HuggingFace checkpoints (the ``hf`` backend) are loaded from these folders only, so that an endpoint cannot
# make the server read any path. HF_ALLOW_HUB also accepts Hub ids (org/name), downloaded into the HuggingFace cache
# (HF_HOME) on first use. HF_DEVICE: auto picks cuda, then mps, then cpu.
HF_MODEL_DIRS = [Path(d).expanduser().resolve() for d in env.list("HF_MODEL_DIRS", default=[str(DATA_DIR / "models")])]
HF_ALLOW_HUB = env.bool("HF_ALLOW_HUB", default=False)
HF_DEVICE = env.str("HF_DEVICE", default="auto")
if HF_DEVICE not in ("auto", "cpu", "cuda", "mps"):
    raise ImproperlyConfigured("HF_DEVICE must be auto, cpu, cuda or mps.")
# Seconds: to connect, between bytes read (per streamed chunk), and for one whole attempt.
MODEL_CONNECT_TIMEOUT = env.float("MODEL_CONNECT_TIMEOUT", default=10.0)
MODEL_READ_TIMEOUT = env.float("MODEL_READ_TIMEOUT", default=300.0)
MODEL_TOTAL_TIMEOUT = env.float("MODEL_TOTAL_TIMEOUT", default=900.0)
# Retries on timeouts, connection errors, 429 and 5xx: exponential backoff with jitter from MODEL_RETRY_BACKOFF
# seconds up to MODEL_RETRY_BACKOFF_MAX; a Retry-After is honoured up to MODEL_RETRY_AFTER_MAX.
MODEL_MAX_RETRIES = env.int("MODEL_MAX_RETRIES", default=4)
MODEL_RETRY_BACKOFF = env.float("MODEL_RETRY_BACKOFF", default=1.0)
MODEL_RETRY_BACKOFF_MAX = env.float("MODEL_RETRY_BACKOFF_MAX", default=30.0)
MODEL_RETRY_AFTER_MAX = env.float("MODEL_RETRY_AFTER_MAX", default=120.0)
# A person waits on "test" and "health" (API, admin, CLI): at most this many seconds per attempt, and one retry.
MODEL_TEST_TIMEOUT = env.float("MODEL_TEST_TIMEOUT", default=60.0)
# httpx2 logs every request at INFO: one line per generated sample during an evaluation is noise, not signal.
LOGGING["loggers"]["httpx2"] = {"level": env.str("MODEL_HTTP_LOG_LEVEL", default="WARNING")}

# Tuning (LoRA jobs on the "gpu" queue): job work directories (checkpoints, adapters) go under TUNING_ARTIFACTS_DIR;
# merged tuned checkpoints, registered as hf endpoints, under TUNING_MODELS_DIR, which must lie inside HF_MODEL_DIRS
# (empty: "tuned" in the first of them). TUNING_JOB_TIMEOUT: seconds an RQ worker lets one job run.
TUNING_ARTIFACTS_DIR = Path(env.str("TUNING_ARTIFACTS_DIR", default=str(DATA_DIR / "tuning"))).expanduser().resolve()
TUNING_MODELS_DIR = env.str("TUNING_MODELS_DIR", default="")
TUNING_JOB_TIMEOUT = env.int("TUNING_JOB_TIMEOUT", default=24 * 3600)

# --- Suite imports ----------------------------------------------------------------------------------------------------
# Largest suite file accepted (downloaded, uploaded or decompressed), and how long a URL download may take in all.
SUITE_IMPORT_MAX_BYTES = env.int("SUITE_IMPORT_MAX_BYTES", default=256 << 20)
SUITE_IMPORT_URL_TIMEOUT = env.float("SUITE_IMPORT_URL_TIMEOUT", default=120.0)
# SSRF guard for import URLs (the model endpoints' guard): link-local and metadata addresses are always refused;
# loopback and private-network hosts only where these allow it (default: DEBUG, a local single-user install).
SUITE_IMPORT_ALLOW_LOOPBACK_URLS = env.bool("SUITE_IMPORT_ALLOW_LOOPBACK_URLS", default=DEBUG)
SUITE_IMPORT_ALLOW_PRIVATE_URLS = env.bool("SUITE_IMPORT_ALLOW_PRIVATE_URLS", default=DEBUG)
