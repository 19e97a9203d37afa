"""T, the trusted harness: runs a problem's tests, calling the candidate through a proxy, and writes the verdict
straight to the host. It lives across programs and is non-dumpable, so candidates cannot read its memory."""

import json
import os
import signal
import socket

from .codec import CodecError, decode, encode  # jail: concatenated
from .common import _exception_info, _read_exact, recv_json, send_json, write_frame  # jail: concatenated


class CandidateExited(BaseException):
    """The candidate process went away (or stopped answering) before the tests finished."""


class CandidateRaised(Exception):
    """The candidate raised an exception that is not a built-in type; carries its description."""


class Channel:
    def __init__(self, fd):
        self.fd = fd
        self.last_raise = None  # (exception object raised in T, info from C)

    def recv(self):
        try:
            message = recv_json(self.fd)
        except (OSError, ValueError) as exc:
            raise CandidateExited("the candidate's channel broke") from exc
        if message is None:
            raise CandidateExited("the candidate closed its channel")
        if not isinstance(message, dict):
            raise CandidateExited("the candidate sent a malformed message")
        return message


def _raise_like(info, channel):
    name = str(info.get("type", "Exception"))
    builtin = getattr(__builtins__ if isinstance(__builtins__, dict) is False else None, name, None)
    if builtin is None:
        import builtins

        builtin = getattr(builtins, name, None)
    if isinstance(builtin, type) and issubclass(builtin, Exception) and builtin.__module__ == "builtins":
        try:
            exc = builtin(info.get("message", ""))
        except Exception:
            exc = CandidateRaised(f"{name}: {info.get('message', '')}")
    else:
        exc = CandidateRaised(f"{name}: {info.get('message', '')}")
    channel.last_raise = (exc, info)
    raise exc


class CandidateProxy:
    """Stands in for the candidate's function inside the trusted harness: arguments and results cross as data."""

    def __init__(self, channel, name):
        self._channel = channel
        self.__name__ = name

    def __call__(self, *args, **kwargs):
        try:
            payload = encode((args, kwargs))
        except CodecError as exc:
            raise CandidateExited(f"the test passed a value that cannot cross: {exc}") from exc
        try:
            write_frame(self._channel.fd, payload)
        except OSError as exc:
            raise CandidateExited("the candidate closed its channel") from exc
        message = self._channel.recv()
        if "ok" in message:
            try:
                return decode(json.dumps(message["ok"]).encode())
            except CodecError as exc:
                _raise_like({"type": "UnrepresentableValue", "message": str(exc)}, self._channel)
        if "raise" in message and isinstance(message["raise"], dict):
            _raise_like(message["raise"], self._channel)
        if "exit" in message:
            self._channel.exit_info = message["exit"]
            raise CandidateExited("the candidate called exit")
        raise CandidateExited("the candidate sent a malformed message")


def _harness_check(spec, proxy):
    namespace = {}
    exec(spec["_setup"], namespace)
    exec(spec["_test"], namespace)
    namespace[spec["entry_point"]] = proxy
    namespace[spec.get("check_function") or "check"](proxy)


def _harness_asserts(spec, proxy):
    namespace = {}
    exec(spec["_setup"], namespace)
    namespace[spec["entry_point"]] = proxy
    for statement in spec["_asserts"]:
        exec(statement, namespace)


HARNESSES = {"check": _harness_check, "asserts": _harness_asserts}


def _failure(status, info=None, **extra):
    verdict = {"status": status}
    if info:
        verdict.update({k: info.get(k) for k in ("type", "message", "line", "traceback")})
    verdict.update(extra)
    return verdict


def _judge(spec, channel):
    try:
        hello = channel.recv()
    except CandidateExited as exc:
        return _failure("exited_early", {"type": "CandidateExited", "message": str(exc)}, phase="load")
    if "exit" in hello:
        return _failure("exited_early", hello["exit"])
    if "exec_error" in hello:
        return _failure("error", hello["exec_error"], phase="load")
    if not hello.get("ready"):
        return _failure("exited_early", {"type": "ProtocolError", "message": "the candidate did not load"})
    proxy = CandidateProxy(channel, spec["entry_point"])
    harness = HARNESSES[spec["kind"]]
    try:
        harness(spec, proxy)
    except CandidateExited as exc:
        info = getattr(channel, "exit_info", None) or {"type": "CandidateExited", "message": str(exc)}
        return _failure("exited_early", info)
    except BaseException as exc:
        raised = channel.last_raise
        chain, seen = exc, set()
        while chain is not None and id(chain) not in seen:
            if raised is not None and chain is raised[0]:
                info = raised[1]
                status = "memory" if info.get("type") == "MemoryError" else "error"
                return _failure(status, info, phase="call")
            seen.add(id(chain))
            chain = chain.__context__
        info = _exception_info(exc)
        status = "failed" if isinstance(exc, AssertionError) else "error"
        return _failure(status, info, phase="test")
    return {"status": "passed"}


_IGNORED_IN_HARNESS = (
    "SIGTERM",
    "SIGINT",
    "SIGHUP",
    "SIGUSR1",
    "SIGUSR2",
    "SIGALRM",
    "SIGPIPE",
    "SIGQUIT",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGVTALRM",
    "SIGPROF",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGCHLD",
)
SPEC_CACHE_SIZE = 512


def serve_harness(ctl_sock, spec_fd, verdict_fd):
    """T's loop: one program per message from R, which brings a fresh channel to that program's candidate."""
    for name in _IGNORED_IN_HARNESS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    compiled = {}
    while True:
        try:
            data, fds, _, _ = socket.recv_fds(ctl_sock, 65536, 1)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        request = json.loads(data)
        channel_fd = fds[0] if fds else -1
        try:
            raw = _read_exact(spec_fd, request["spec_len"])
            key = request["spec_key"]
            spec = compiled.get(key)
            if spec is None:
                spec = json.loads(raw)
                spec["_setup"] = compile(spec.get("setup") or "", "<setup>", "exec")
                spec["_test"] = compile(spec.get("test") or "", "<test>", "exec")
                spec["_asserts"] = [compile(a, "<test>", "exec") for a in spec.get("asserts") or []]
                if len(compiled) >= SPEC_CACHE_SIZE:
                    compiled.pop(next(iter(compiled)))
                compiled[key] = spec
            del raw
            verdict = _judge(spec, Channel(channel_fd))
        except BaseException as exc:  # a broken test spec is the platform's fault, not the candidate's
            verdict = _failure("harness_error", _exception_info(exc))
        if channel_fd >= 0:
            os.close(channel_fd)
        send_json(verdict_fd, verdict)
        ctl_sock.sendall(b"d")
