"""Execution environments: the interpreter and packages that untrusted programs can use.

An environment is the platform's base interpreter with its standard library (never the platform's virtual
environment or the interpreter's own site-packages) plus a directory of packages installed for programs only.
The default one holds numpy, as the official HumanEval harness has it; suites may need more (MBPP+ and custom
suites), so environments are named and created on demand with pinned requirements.
"""

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

from codequal.exceptions import ApplicationError

DEFAULT_ENVIRONMENT = "default"
DEFAULT_PACKAGES = ("numpy>=2.3,<2.5",)
MARKER = "environment.json"


@dataclass(frozen=True)
class ExecutionEnvironment:
    name: str
    python: Path  # the interpreter binary
    prefix: Path  # its installation prefix: stdlib under prefix/lib/pythonX.Y
    site_packages: Path | None  # packages installed for programs
    packages: tuple[str, ...] = ()
    # Modules imported once per runner before programs fork from it. Empty by default: a runner without numpy
    # forks three times faster; programs whose source names numpy get a second runner that imported it
    # (engine.ON_DEMAND_PRELOAD).
    preload: tuple[str, ...] = ()

    @property
    def version(self) -> str:
        return f"{sys.version_info.major}.{sys.version_info.minor}"

    @property
    def stdlib(self) -> Path:
        return self.prefix / "lib" / f"python{self.version}"


def base_interpreter() -> tuple[Path, Path]:
    """The interpreter this platform runs on, outside any virtual environment: (binary, prefix)."""
    prefix = Path(sys.base_prefix).resolve()
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    for name in (f"python{version}", "python3"):
        candidate = prefix / "bin" / name
        if candidate.exists():
            return candidate.resolve(), prefix
    raise ApplicationError(f"No interpreter found under {prefix}/bin.")


def environments_root() -> Path:
    return Path(settings.SANDBOX_ENVIRONMENTS_DIR)


def _marker_for(packages: tuple[str, ...]) -> dict:
    python, _ = base_interpreter()
    return {"packages": list(packages), "python": str(python), "version": sys.version.split()[0]}


def environment_get(name: str = DEFAULT_ENVIRONMENT) -> ExecutionEnvironment:
    """An installed environment; a clear error when it is missing."""
    python, prefix = base_interpreter()
    if name == "stdlib":
        return ExecutionEnvironment(name="stdlib", python=python, prefix=prefix, site_packages=None)
    root = environments_root() / name
    try:
        marker = json.loads((root / MARKER).read_text())
    except (OSError, ValueError) as exc:
        raise ApplicationError(
            f"The execution environment {name!r} is not installed; run `codequalbench sandbox setup`.",
            extra={"path": str(root)},
        ) from exc
    return ExecutionEnvironment(
        name=name,
        python=python,
        prefix=prefix,
        site_packages=root / "site-packages",
        packages=tuple(marker["packages"]),
    )


def environment_ensure(
    name: str = DEFAULT_ENVIRONMENT, packages: tuple[str, ...] = DEFAULT_PACKAGES
) -> ExecutionEnvironment:
    """Install ``packages`` into the named environment unless it already holds exactly them."""
    root = environments_root() / name
    wanted = _marker_for(tuple(packages))
    try:
        if json.loads((root / MARKER).read_text()) == wanted:
            return environment_get(name)
    except (OSError, ValueError):
        pass
    environments_root().mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=environments_root()))
    try:
        if packages:
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    "--no-input",
                    "--target",
                    str(staging / "site-packages"),
                    *packages,
                ],
                capture_output=True,
                text=True,
                timeout=900,
                check=False,
            )
            if done.returncode != 0:
                raise ApplicationError(
                    f"Installing {', '.join(packages)} for environment {name!r} failed.",
                    extra={"pip": done.stderr[-2000:]},
                )
        else:
            (staging / "site-packages").mkdir()
        (staging / MARKER).write_text(json.dumps(wanted))
        # Programs run as another user: everything must be readable (and nothing writable) by them.
        for dirpath, _dirnames, filenames in os.walk(staging):
            os.chmod(dirpath, 0o755)
            for filename in filenames:
                path = os.path.join(dirpath, filename)
                if not os.path.islink(path):
                    os.chmod(path, 0o644 | (0o111 if os.access(path, os.X_OK) else 0))
        if root.exists():
            shutil.rmtree(root)
        staging.rename(root)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return environment_get(name)


def library_mounts() -> list[tuple[str, str | None]]:
    """Shared-library locations the interpreter needs: (path, symlink target or None for a read-only bind)."""
    multiarch = sysconfig.get_config_var("MULTIARCH") or ""
    candidates = ["/lib", "/lib64", "/usr/lib64", "/lib32"]
    if multiarch:
        candidates += [f"/usr/lib/{multiarch}", f"/lib/{multiarch}"]
    mounts: list[tuple[str, str | None]] = []
    for path in candidates:
        if os.path.islink(path):
            mounts.append((path, os.readlink(path)))
        elif os.path.isdir(path) and path not in ("/lib",):
            mounts.append((path, None))
        elif path == "/lib" and os.path.isdir(path) and multiarch:
            # A /lib that is a real directory: bind only its multiarch part (added above).
            continue
    return mounts
