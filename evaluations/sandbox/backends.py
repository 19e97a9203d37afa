"""Isolation backends: how a runner process is started around the in-jail runner (jail/runner.py)."""

import logging
import os
import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path

from django.conf import settings

from codequal.exceptions import ApplicationError

from .environment import ExecutionEnvironment, library_mounts

logger = logging.getLogger(__name__)

JAIL_SITE_PACKAGES = "/opt/codequal/site-packages"
# Imported once per runner so each program's fresh process starts warm (the official harness's parent has these
# loaded too). Programs still get their own copy: every program runs in a new fork.
STDLIB_PRELOAD = ("typing", "math", "re", "collections", "itertools", "functools", "string", "heapq", "bisect")
JAIL_SCRATCH = "/tmp"

# Between the jail modules in the runner's source (engine.runner_source): a form feed, which no module contains.
MODULE_SEPARATOR = b"\n\f\n"
# The bootstrap reads the runner's source and configuration from the control fd given as its argument.
BOOTSTRAP = (
    "import os,sys,json\n"
    "fd=int(sys.argv[1])\n"
    "def r(n):\n"
    " b=b''\n"
    " while len(b)<n:\n"
    "  c=os.read(fd,n-len(b))\n"
    "  if not c: raise SystemExit(3)\n"
    "  b+=c\n"
    " return b\n"
    "src=r(int.from_bytes(r(4),'big'))\n"
    "cfg=json.loads(r(int.from_bytes(r(4),'big')))\n"
    "g={'__name__':'codequal_runner'}\n"
    "for m in src.split(b'\\n\\f\\n'):exec(compile(m,'<codequal-runner>','exec'),g)\n"
    "g['main'](cfg)\n"
)


class SandboxUnavailable(ApplicationError):
    status_code = 503


class Backend:
    name = ""
    isolated = False
    host_cgroups = True  # runners are host processes that cgroups.py can place (not so in a container)
    pipes_are_local = True  # the host can see what the jail left unread in its pipes

    def command(self, env: ExecutionEnvironment, ctl_fd: int) -> list[str]:
        raise NotImplementedError

    def runner_config(self, env: ExecutionEnvironment) -> dict:
        raise NotImplementedError

    def popen_kwargs(self) -> dict:
        return {}

    def cleanup(self, config: dict) -> None:
        """Release what ``runner_config`` created for a runner (called after the runner process is gone)."""


class BwrapBackend(Backend):
    """bubblewrap: new pid, network, ipc and uts namespaces, a minimal read-only filesystem, a small private /tmp,
    and an unprivileged uid even when the platform runs as root."""

    name = "bwrap"
    isolated = True

    def __init__(self, executable: str | None = None):
        self.executable = executable or shutil.which("bwrap")
        if not self.executable:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed: `apt-get install bubblewrap`.")

    def _as_root(self) -> bool:
        return os.geteuid() == 0

    def command(self, env: ExecutionEnvironment, ctl_fd: int) -> list[str]:
        args = [
            self.executable,
            "--die-with-parent",
            "--new-session",
            "--as-pid-1",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-net",
            "--unshare-uts",
            "--unshare-cgroup-try",
            "--hostname",
            "sandbox",
            "--clearenv",
            "--cap-drop",
            "ALL",
        ]
        if self._as_root():
            # Without a user namespace the jail's uid is the host's uid: start as root inside (only to drop), and
            # the runner switches to the unprivileged ids before it reads anything.
            args += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        else:
            args += [
                "--unshare-user",
                "--uid",
                str(settings.SANDBOX_UID),
                "--gid",
                str(settings.SANDBOX_GID),
                "--disable-userns",
            ]
        made: set[str] = {"/"}

        def parents(path: str):
            parts = Path(path).parts[1:-1]
            current = ""
            for part in parts:
                current += "/" + part
                if current not in made:
                    args.extend(["--perms", "0755", "--dir", current])
                    made.add(current)

        for path, link in library_mounts():
            parents(path)
            if link is None:
                args.extend(["--ro-bind", path, path])
            else:
                args.extend(["--symlink", link, path])
            made.add(path)
        prefix = str(env.prefix)
        parents(prefix)
        args.extend(["--ro-bind", prefix, prefix])
        made.add(prefix)
        for hidden in ("site-packages", "dist-packages"):
            if (env.stdlib / hidden).is_dir():
                args.extend(["--tmpfs", str(env.stdlib / hidden)])
        if env.site_packages is not None:
            parents(JAIL_SITE_PACKAGES)
            args.extend(["--ro-bind", str(env.site_packages), JAIL_SITE_PACKAGES])
        tmp_bytes = int(settings.SANDBOX_TMP_MB) * 1024 * 1024
        args += [
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--perms",
            "1777",
            "--size",
            str(tmp_bytes),
            "--tmpfs",
            JAIL_SCRATCH,
            "--chdir",
            "/",
            str(env.python),
            "-I",
            "-S",
            "-B",
            "-c",
            BOOTSTRAP,
            str(ctl_fd),
        ]
        return args

    def runner_config(self, env: ExecutionEnvironment) -> dict:
        drop = [settings.SANDBOX_UID, settings.SANDBOX_GID] if self._as_root() else None
        return {
            "drop_to": drop,
            "scratch_root": JAIL_SCRATCH + "/work",
            # Everything a program can write to is emptied after it.
            "wipe_roots": [JAIL_SCRATCH, "/dev/shm"],
            "site_paths": [JAIL_SITE_PACKAGES] if env.site_packages is not None else [],
            "preload": [*STDLIB_PRELOAD, *env.preload],
        }

    def popen_kwargs(self) -> dict:
        return {"env": {}}


class SubprocessBackend(Backend):
    """No isolation at all: programs run as this user with resource limits only. For trusted code or debugging."""

    name = "subprocess"
    isolated = False

    def __init__(self):
        warnings.warn(
            "The subprocess sandbox backend does NOT isolate programs: they can read your files, use the network "
            "and signal your processes. Use it only for trusted code.",
            RuntimeWarning,
            stacklevel=3,
        )
        logger.warning("sandbox backend 'subprocess' selected: programs are NOT isolated")

    def command(self, env: ExecutionEnvironment, ctl_fd: int) -> list[str]:
        return [str(env.python), "-I", "-S", "-B", "-c", BOOTSTRAP, str(ctl_fd)]

    def runner_config(self, env: ExecutionEnvironment) -> dict:
        scratch = tempfile.mkdtemp(prefix="codequal-scratch-")
        return {
            "drop_to": None,
            "host_scratch": scratch,
            "scratch_root": scratch + "/work",
            "wipe_roots": [scratch],
            "site_paths": [str(env.site_packages)] if env.site_packages is not None else [],
            "preload": [*STDLIB_PRELOAD, *env.preload],
        }

    def popen_kwargs(self) -> dict:
        return {"env": {}, "cwd": "/"}

    def cleanup(self, config: dict) -> None:
        if config.get("host_scratch"):
            shutil.rmtree(config["host_scratch"], ignore_errors=True)


def bwrap_usable() -> tuple[bool, str]:
    """Whether a bwrap jail can start here, and why not."""
    exe = shutil.which("bwrap")
    if not exe:
        return False, "bwrap is not installed"
    probe = [exe, "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/", "--proc", "/proc", "true"]
    try:
        done = subprocess.run(probe, capture_output=True, text=True, timeout=20, env={}, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, str(exc)
    if done.returncode != 0:
        return False, done.stderr.strip()[:300] or f"exit {done.returncode}"
    return True, ""


def make_backend(name: str | None = None) -> Backend:
    """The configured backend. "auto" picks bwrap where it works and refuses to fall back silently."""
    name = (name or settings.SANDBOX_BACKEND or "auto").lower()
    if name in ("auto", "bwrap"):
        ok, why = bwrap_usable()
        if ok:
            return BwrapBackend()
        raise SandboxUnavailable(
            f"The bubblewrap sandbox cannot start here ({why}). Install bubblewrap, or set SANDBOX_BACKEND=docker "
            "where a Docker engine runs, or SANDBOX_BACKEND=subprocess to run programs without isolation."
        )
    if name == "subprocess":
        return SubprocessBackend()
    if name == "docker":
        from .docker_backend import DockerBackend

        return DockerBackend()
    raise SandboxUnavailable(f"Unknown sandbox backend {name!r}; choose auto, bwrap, docker or subprocess.")
