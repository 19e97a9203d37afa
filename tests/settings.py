"""Settings for the test suite: the platform's own settings, read from the environment as always, plus defaults that
keep tests away from the user's data directory (set before the settings module reads them)."""

import os
import tempfile
from pathlib import Path

os.environ.setdefault("CODEQUAL_DATA_DIR", tempfile.mkdtemp(prefix="cqb-test-data-"))
# Execution environments (pip installs for programs) are cached across runs in the checkout's .cache/.
os.environ.setdefault(
    "SANDBOX_ENVIRONMENTS_DIR", str(Path(__file__).resolve().parent.parent / ".cache" / "environments")
)

from codequal.settings import *  # noqa: F403

# Fast hashing for the many users tests create; CLI and browser tests run the real hashers in subprocesses.
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# Connections opened by worker threads (channels' database_sync_to_async, in-process jobs) close after each use,
# so none outlives the test database.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
