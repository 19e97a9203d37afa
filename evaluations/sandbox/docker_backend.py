"""The Docker backend: each warm runner is one long-lived container, created and configured through the Docker SDK.

The runner's five channels (control in/out, test spec, candidate code, verdict) are pipes on both sides, as with
bubblewrap; only the container's stdin and stdout cross the engine. Two small pieces join them:

- on the host, a relay process (``python -m evaluations.sandbox.docker_backend``) that the engine starts like any
  runner command: it creates the container with the SDK, attaches to its stdin/stdout and multiplexes the five pipes
  over that one stream (frames of channel byte + length + payload);
- in the container, ``CONTAINER_BOOTSTRAP``, pid 1: it re-executes itself with an empty environment (an image's ENV
  would otherwise stay readable in /proc/1/environ), demultiplexes stdin into fresh pipes with ``splice`` so no
  test, code or verdict byte ever enters its memory (the supervisor forks every candidate from that memory), then
  runs the same supervisor (R), harness (T) and candidate (C) code as the bubblewrap jail, with R as pid 1.
"""

import contextlib
import json
import logging
import os
import secrets
import select
import socket
import sys
import threading

from django.conf import settings

from .backends import JAIL_SCRATCH, JAIL_SITE_PACKAGES, STDLIB_PRELOAD, Backend, SandboxUnavailable
from .environment import ExecutionEnvironment

logger = logging.getLogger(__name__)

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
INSTALL_HINT = 'pip install -e ".[docker]" (or: pip install -r requirements/docker.txt)'
# What R and T need beside the program itself (interpreters, numpy when a program loads it, the spec cache).
RUNNER_OVERHEAD_MB = 256
# Processes beside the program's own: R, T and a margin for the runtime's helpers.
RUNNER_EXTRA_PIDS = 8
CONTROL, SPEC, CODE = 0, 1, 2  # host -> container channels
REPORT, VERDICT = 0, 1  # container -> host channels
DOCKER_ENV = ("DOCKER_HOST", "DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG")

# Runs as the container's pid 1 with ``python3 -I -S -B -c``. Standard library only.
CONTAINER_BOOTSTRAP = r"""
import os, sys
if open('/proc/self/environ', 'rb').read():  # the block we were started with (Python may add LC_CTYPE itself)
    os.execve(sys.executable, open('/proc/self/cmdline', 'rb').read().split(b'\0')[:-1], {})
import fcntl, json, select, struct, termios, threading
IN, OUT = os.dup(0), os.dup(1)
def pipe():
    r, w = os.pipe()
    try:
        fcntl.fcntl(w, 1031, 1 << 20)
    except OSError:
        pass
    return r, w
ci_r, ci_w = pipe(); co_r, co_w = pipe(); sp_r, sp_w = pipe(); cd_r, cd_w = pipe(); vd_r, vd_w = pipe()
inbound = {0: ci_w, 1: sp_w, 2: cd_w}
def exact(fd, n):
    b = b''
    while len(b) < n:
        c = os.read(fd, n - len(b))
        if not c:
            return None
        b += c
    return b
def pump_in():
    try:
        while True:
            head = exact(IN, 5)
            if head is None:
                return
            dst, n = inbound[head[0]], int.from_bytes(head[1:], 'big')
            while n:
                k = os.splice(IN, dst, n)
                if not k:
                    return
                n -= k
    finally:
        for fd in inbound.values():
            os.close(fd)
def unread(fd):
    return struct.unpack('i', fcntl.ioctl(fd, termios.FIONREAD, b'\0\0\0\0'))[0]
def put(channel, fd, n):
    head = bytes([channel]) + n.to_bytes(4, 'big')
    while head:
        head = head[os.write(OUT, head):]
    while n:
        k = os.splice(fd, OUT, n)
        if not k:
            raise OSError('short splice')
        n -= k
def pump_out():
    watch = [co_r, vd_r]
    while watch:
        ready = select.select(watch, [], [])[0]
        # Report bytes are counted before verdict bytes: a verdict is complete before its report is written, so
        # it always leaves first.
        counts = {fd: unread(fd) for fd in (co_r, vd_r) if fd in watch}
        for channel, fd in ((1, vd_r), (0, co_r)):
            if counts.get(fd):
                put(channel, fd, counts[fd])
            elif fd in ready and fd in counts:
                watch.remove(fd)
threading.Thread(target=pump_in, daemon=True).start()
threading.Thread(target=pump_out, daemon=True).start()
def frame(fd):
    head = exact(fd, 4)
    if head is None:
        raise SystemExit(3)
    return exact(fd, int.from_bytes(head, 'big'))
src = frame(ci_r)
cfg = json.loads(frame(ci_r))
want, have = cfg.pop('python', ''), '%d.%d' % sys.version_info[:2]
if want and want != have:
    sys.stderr.write('the image runs Python %s; the environment needs %s: set SANDBOX_DOCKER_IMAGE' % (have, want))
    raise SystemExit(3)
cfg['fds'] = [ci_r, co_w, sp_r, cd_r, vd_w]
cfg['keep_fds'] = [IN, OUT, ci_w, sp_w, cd_w, co_r, vd_r]
g = {'__name__': 'codequal_runner'}
for module in src.split(b'\n\f\n'):
    exec(compile(module, '<codequal-runner>', 'exec'), g)
g['main'](cfg)
"""


def engine_address() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def docker_client(timeout: int = 30):
    """An SDK client for the configured engine, or SandboxUnavailable saying what is missing."""
    try:
        import docker
    except ImportError as exc:
        raise SandboxUnavailable(f"The docker sandbox backend needs the Docker SDK: {INSTALL_HINT}.") from exc
    try:
        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:
        raise SandboxUnavailable(
            f"No Docker engine answers at {engine_address()} (set DOCKER_HOST to reach another one): {exc}"
        ) from exc
    return client


def docker_engine_reachable() -> tuple[bool, str]:
    """Whether a Docker engine answers here, and if not, why (naming the socket that was tried)."""
    try:
        docker_client(timeout=5).close()
    except SandboxUnavailable as exc:
        return False, exc.message
    return True, ""


def python_version() -> str:
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def container_spec(
    env: ExecutionEnvironment,
    *,
    name: str,
    image: str,
    memory_mb: int,
    tmp_mb: int,
    max_processes: int,
    cpus: float,
    uid: int,
    gid: int,
) -> dict:
    """Keyword arguments of ``containers.create`` for one runner: every isolation option in one place."""
    memory = (memory_mb + 2 * tmp_mb + RUNNER_OVERHEAD_MB) * 1024 * 1024  # /tmp and /dev/shm count as memory
    mounts = []
    if env.site_packages is not None:
        # The only host path in the container: the environment's packages, read-only (the image has none).
        mounts.append(
            {"Type": "bind", "Source": str(env.site_packages), "Target": JAIL_SITE_PACKAGES, "ReadOnly": True}
        )
    return {
        "image": image,
        "name": name,
        "entrypoint": ["python3", "-I", "-S", "-B", "-c", CONTAINER_BOOTSTRAP],
        "command": [],
        "user": f"{uid}:{gid}",
        "environment": {},
        "working_dir": "/",
        "hostname": "sandbox",
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            JAIL_SCRATCH: f"rw,nosuid,nodev,noexec,size={tmp_mb}m,mode=1777",
            # The image's own packages stay out of reach, as bubblewrap hides the interpreter's site-packages.
            f"/usr/local/lib/python{python_version()}/site-packages": "ro,nosuid,nodev,noexec,size=64k",
        },
        "shm_size": tmp_mb * 1024 * 1024,
        "ipc_mode": "private",
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges"],
        "privileged": False,
        "mem_limit": memory,
        "memswap_limit": memory,
        "pids_limit": max_processes + RUNNER_EXTRA_PIDS,
        "nano_cpus": int(cpus * 1e9),
        "ulimits": [{"Name": "core", "Soft": 0, "Hard": 0}],
        "mounts": mounts,
        "init": False,  # R must be pid 1: kill(-1) and signals from inside cannot reach it
        "stdin_open": True,
        "stdin_once": True,
        "tty": False,
        "auto_remove": True,
        "labels": {"codequal.sandbox": "runner"},
    }


class DockerBackend(Backend):
    """Docker: one container per warm runner; no network, a read-only root, no capabilities, no new privileges,
    memory = memory + swap, pids and CPU limits, a non-root user, an empty environment."""

    name = "docker"
    isolated = True
    host_cgroups = False  # the engine puts each container in a cgroup of its own
    pipes_are_local = False

    def __init__(self, *, image: str | None = None, check_engine: bool = True):
        self.image = image or settings.SANDBOX_DOCKER_IMAGE
        if check_engine:
            client = docker_client()
            try:
                client.images.get(self.image)
            except Exception as exc:
                raise SandboxUnavailable(
                    f"The image {self.image} is not on the Docker engine at {engine_address()}: "
                    f"run `docker pull {self.image}` (or set SANDBOX_DOCKER_IMAGE)."
                ) from exc
            finally:
                client.close()

    def command(self, env: ExecutionEnvironment, ctl_fd: int) -> list[str]:
        return [sys.executable, "-m", "evaluations.sandbox.docker_backend", str(ctl_fd)]

    def runner_config(self, env: ExecutionEnvironment) -> dict:
        spec = container_spec(
            env,
            name=f"codequal-runner-{secrets.token_hex(8)}",
            image=self.image,
            memory_mb=int(settings.SANDBOX_MEMORY_MB),
            tmp_mb=int(settings.SANDBOX_TMP_MB),
            max_processes=int(settings.SANDBOX_MAX_PROCESSES),
            cpus=float(settings.SANDBOX_DOCKER_CPUS),
            uid=int(settings.SANDBOX_UID),
            gid=int(settings.SANDBOX_GID),
        )
        return {
            "drop_to": None,  # the container already runs as SANDBOX_UID:SANDBOX_GID
            "scratch_root": JAIL_SCRATCH + "/work",
            "wipe_roots": [JAIL_SCRATCH, "/dev/shm"],
            "site_paths": [JAIL_SITE_PACKAGES] if env.site_packages is not None else [],
            "preload": [*STDLIB_PRELOAD, *env.preload],
            "docker": {"create": spec, "python": python_version()},
        }

    def popen_kwargs(self) -> dict:
        # The relay needs only the engine's address (and TLS material); the container gets no environment at all.
        env = {key: os.environ[key] for key in DOCKER_ENV if key in os.environ}
        return {"env": env, "cwd": str(settings.BASE_DIR)}

    def cleanup(self, config: dict) -> None:
        name = (config.get("docker") or {}).get("create", {}).get("name")
        if not name:
            return
        with contextlib.suppress(Exception):
            client = docker_client(timeout=10)
            with contextlib.suppress(Exception):
                client.containers.get(name).remove(force=True)
            client.close()


# --- the host-side relay (a process of its own, started by the engine as the runner command) ----------------------
def _read_exact(fd: int, n: int) -> bytes | None:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, n - got)
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _read_frame(fd: int) -> bytes | None:
    head = _read_exact(fd, 4)
    return None if head is None else _read_exact(fd, int.from_bytes(head, "big"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def mux(channel: int, payload: bytes) -> bytes:
    return bytes([channel]) + len(payload).to_bytes(4, "big") + payload


def _framed(payload: bytes) -> bytes:
    return len(payload).to_bytes(4, "big") + payload


class Demux:
    """Routes the container's multiplexed stdout to the host pipes, however the stream is cut into reads."""

    def __init__(self, routes: dict[int, int]):
        self.routes = routes
        self.buffer = bytearray()
        self.channel: int | None = None
        self.remaining = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        while self.buffer:
            if self.channel is None:
                if len(self.buffer) < 5:
                    return
                self.channel, self.remaining = self.buffer[0], int.from_bytes(self.buffer[1:5], "big")
                del self.buffer[:5]
                if self.channel not in self.routes:
                    raise ValueError(f"unknown channel {self.channel} from the container")
            take = bytes(self.buffer[: self.remaining])
            del self.buffer[: len(take)]
            self.remaining -= len(take)
            _write_all(self.routes[self.channel], take)
            if self.remaining == 0:
                self.channel = None


class EngineLink:
    """The container's stdin/stdout through the engine's attach socket (docker's 8-byte stream frames)."""

    def __init__(self, spec: dict):
        self.client = docker_client()
        self.container = self.client.containers.create(**spec)
        params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1, "logs": 0}
        self.sock = self.client.api.attach_socket(self.container.id, params=params)
        self.raw = getattr(self.sock, "_sock", self.sock)
        self.container.start()
        self._pending = b""

    def send(self, data: bytes) -> None:
        self.raw.sendall(data)

    def close_send(self) -> None:
        with contextlib.suppress(OSError):
            self.raw.shutdown(socket.SHUT_WR)

    def _recv_exact(self, n: int) -> bytes | None:
        data = b""
        while len(data) < n:
            chunk = self.raw.recv(n - len(data))
            if not chunk:
                return None
            data += chunk
        return data

    def frames(self):
        """(stream, bytes) pairs: 1 is stdout, 2 is stderr."""
        while True:
            head = self._recv_exact(8)
            if head is None:
                return
            data = self._recv_exact(int.from_bytes(head[4:8], "big"))
            if data is None:
                return
            yield head[0], data

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.container.remove(force=True)
        with contextlib.suppress(Exception):
            self.client.close()


def _pump_to_container(link, sources: list[tuple[int, int]]) -> None:
    """Host pipes -> container stdin. Channels are read in priority order, so a program's control header (written
    first by the host) always precedes its spec and code in the stream."""
    watch = [fd for fd, _ in sources]
    try:
        while watch:
            ready, _, _ = select.select(watch, [], [])
            for fd, channel in sources:
                if fd not in ready:
                    continue
                data = os.read(fd, 1 << 16)
                if data:
                    link.send(mux(channel, data))
                else:
                    watch.remove(fd)
                    if channel == CONTROL:
                        return
    except OSError:
        pass
    finally:
        link.close_send()


def relay(link, ctl_in: int, config: dict, source: bytes, fds: list[int]) -> None:
    """Join the engine's pipes (``fds``: control in/out, spec, code, verdict, host side) to a container link."""
    _, ctl_out, spec_fd, code_fd, verdict_fd = fds
    link.send(mux(CONTROL, _framed(source)) + mux(CONTROL, _framed(json.dumps(config).encode())))
    sources = [(ctl_in, CONTROL), (spec_fd, SPEC), (code_fd, CODE)]
    threading.Thread(target=_pump_to_container, args=(link, sources), daemon=True).start()
    demux = Demux({REPORT: ctl_out, VERDICT: verdict_fd})
    for stream, data in link.frames():
        if stream == 2:
            _write_all(2, data)  # the container's stderr: the engine shows it when the runner fails to start
        else:
            demux.feed(data)


def engine_link(docker: dict) -> EngineLink:
    return EngineLink(docker["create"])


def relay_main(argv: list[str], make_link=engine_link) -> int:
    ctl_in = int(argv[1])
    source = _read_frame(ctl_in)
    raw_config = _read_frame(ctl_in)
    if source is None or raw_config is None:
        return 3
    config = json.loads(raw_config)
    docker = config.pop("docker")
    fds = config.pop("fds")
    config["python"] = docker["python"]
    try:
        link = make_link(docker)
    except SandboxUnavailable as exc:
        sys.stderr.write(exc.message)
        return 3
    except Exception as exc:
        sys.stderr.write(f"creating the container failed: {exc}")
        return 3
    try:
        relay(link, ctl_in, config, source, fds)
    except OSError:
        return 1
    finally:
        link.close()
    return 0


if __name__ == "__main__":
    sys.exit(relay_main(sys.argv))
