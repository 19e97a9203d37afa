"""T, the trusted harness: runs a problem's tests, calling the candidate through a proxy, and writes the verdict
straight to the host. It lives across programs and is non-dumpable, so candidates cannot read its memory."""

import json
import marshal
import os
import signal
import socket
import sys
import time

from .codec import CodecError, _numpy, decode, encode  # jail: concatenated
from .common import (  # jail: concatenated
    CANDIDATE_FILE,  # jail: concatenated
    DONE,  # jail: concatenated
    MARSHALLED,  # jail: concatenated
    RESULT,  # jail: concatenated
    _exception_info,  # jail: concatenated
    _read_exact,  # jail: concatenated
    loads_json,  # jail: concatenated
    read_frame,  # jail: concatenated
    send_json,  # jail: concatenated
    write_frame,  # jail: concatenated
)  # jail: concatenated


class CandidateExited(BaseException):
    """The candidate process went away (or stopped answering) before the tests finished."""


class CandidateRaised(Exception):
    """The candidate raised an exception that is not a built-in type; carries its description."""


_CREDENTIALS_SPACE = socket.CMSG_SPACE(12)  # struct ucred: pid, uid, gid
_SOL_SOCKET, _SCM_CREDENTIALS, _BYTE_ORDER = socket.SOL_SOCKET, socket.SCM_CREDENTIALS, sys.byteorder


class Channel:
    """T's end of the socket to one program's candidate. Every message the candidate sends must come from the
    candidate's own process: with SO_PASSCRED the kernel stamps each write with the writing process's pid (which an
    unprivileged process cannot forge, and which keeps writes of different processes apart), and ``sender`` records
    it. A program that forks while it loads and lets the child answer (the parent exiting, or waiting) has answered
    from another process: the supervisor, which knows the candidate's pid, compares (supervisor.py)."""

    def __init__(self, fd):
        self.fd = fd
        self.last_raise = None  # (exception object raised in T, info from C)
        # The pid every message so far came from: 0 before the first, -1 once two differ or one came unstamped.
        self.sender = 0
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM, 0, fileno=fd)
        # Set before the candidate is sent its program, so every write of the program's own code is stamped.
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self._recvmsg = self._socket.recvmsg

    def release(self):
        """Give the descriptor back (the caller closes it) and return ``sender``."""
        self._socket.detach()
        return self.sender

    def _read(self, fd, n):
        data, ancdata, _, _ = self._recvmsg(n, _CREDENTIALS_SPACE)
        if data:
            # The kernel puts the credentials first; descriptors the candidate might send along find no room in the
            # buffer and are closed (the kernel sets MSG_CTRUNC), as plain reads discarded them before.
            pid = -1
            if ancdata:
                level, kind, payload = ancdata[0]
                if level == _SOL_SOCKET and kind == _SCM_CREDENTIALS and len(payload) >= 4:
                    pid = int.from_bytes(payload[:4], _BYTE_ORDER, signed=True) or -1
            if self.sender != pid:
                self.sender = pid if self.sender == 0 else -1
        return data

    def recv(self):
        """The candidate's next message: a result (``{"ok": value}``, sent as RESULT + encoded value so it is
        parsed once) or a control message (JSON object)."""
        try:
            data = read_frame(self.fd, read=self._read)
        except (OSError, ValueError) as exc:
            raise CandidateExited("the candidate's channel broke") from exc
        if data is None:
            raise CandidateExited("the candidate closed its channel")
        if data[:1] == RESULT:
            try:
                return {"ok": decode(data[1:])}
            except CodecError as exc:
                return {"ok_error": str(exc)}
        try:
            message = loads_json(data)
        except (ValueError, RecursionError) as exc:
            raise CandidateExited("the candidate sent a malformed message") from exc
        if not isinstance(message, dict) or "ok" in message:
            raise CandidateExited("the candidate sent a malformed message")
        return message


def _raise_like(info, channel):
    import builtins

    name = str(info.get("type", "Exception"))
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
        # Arguments of built-in types only (the usual case) cross as marshal data, which keeps every exact type and
        # shared references as the official harness's in-process call does. Only this trusted process writes it
        # and only the candidate reads it (the other way, results, is the JSON codec: nothing the program makes
        # is ever unmarshalled). Anything else (subclasses, numpy, iterators) goes through the codec.
        try:
            payload = MARSHALLED + marshal.dumps((args, kwargs))
        except ValueError:
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
            return message["ok"]
        if "ok_error" in message:
            _raise_like({"type": "UnrepresentableValue", "message": message["ok_error"]}, self._channel)
        if "raise" in message and isinstance(message["raise"], dict):
            _raise_like(message["raise"], self._channel)
        if "exit" in message:
            self._channel.exit_info = message["exit"]
            raise CandidateExited("the candidate called exit")
        raise CandidateExited("the candidate sent a malformed message")


def _namespace(spec, proxy):
    namespace = {}
    exec(spec["_setup"], namespace)
    namespace[spec["entry_point"]] = proxy
    return namespace


def _part_check(spec, part, proxy, state):
    namespace = _namespace(spec, proxy)
    exec(part["_test"], namespace)
    namespace[spec["entry_point"]] = proxy
    namespace[part.get("check_function") or "check"](proxy)
    return {"status": "passed"}


def _part_asserts(spec, part, proxy, state):
    namespace = _namespace(spec, proxy)
    for statement in part["_asserts"]:
        exec(statement, namespace)
    return {"status": "passed"}


def _poly(xs, x):
    import math

    return sum(coeff * math.pow(x, i) for i, coeff in enumerate(xs))


def _is_floats(value):
    if isinstance(value, float):
        return True
    if isinstance(value, (list, tuple)):
        return all(isinstance(item, float) for item in value)
    np = _numpy(load=False)
    if np is not None and isinstance(value, np.ndarray):
        return value.dtype in (np.float64, np.float32)
    return False


def _close_enough(out, expected, atol):
    np = _numpy(load=True)
    if np is None:
        import math

        if isinstance(expected, float):
            return isinstance(out, (int, float)) and math.isclose(out, expected, rel_tol=1e-7, abs_tol=atol)
        return False
    try:
        np.testing.assert_allclose(out, expected, atol=atol)
    except Exception:
        return False
    return True


def _io_matches(out, expected, args, part, state):
    """EvalPlus's comparison: exact, else within ``atol`` for float outputs, plus its special oracles (fixed)."""
    oracle = part.get("oracle") or ""
    atol = float(part.get("atol") or 0)
    if oracle == "find_zero":  # any root will do: check it against the polynomial itself
        try:
            return abs(_poly(args[0], out)) <= (atol or 1e-6)
        except Exception:
            return False
    try:
        exact = bool(out == expected)
    except Exception:
        exact = False
    if oracle in ("always_true", "always_zero"):
        # The reference's answers, or a constant answer on every input (the task is ambiguous there).
        constant = True if oracle == "always_true" else 0
        state["faithful"] = state.get("faithful", True) and exact
        state["constant"] = state.get("constant", True) and out == constant
        return state["faithful"] or state["constant"]
    if atol == 0 and _is_floats(expected):
        atol = 1e-6
    if not exact and atol:
        return _close_enough(out, expected, atol)
    return exact


def _part_io(spec, part, proxy, state):
    for index, (args, expected) in enumerate(zip(part["_inputs"], part["_expected"], strict=True)):
        out = proxy(*args)
        if not _io_matches(out, expected, args, part, state):
            return {
                "status": "failed",
                "type": "WrongOutput",
                "message": f"wrong output for input #{index}",
                "failed_input": index,
            }
    return {"status": "passed", "inputs": len(part["_inputs"])}


def _part_record(spec, part, proxy, state):
    """Run the (trusted, canonical) program on every input and report its outputs: how suites get their oracles."""
    import time

    outputs = []
    for args in part["_inputs"]:
        started = time.perf_counter()
        try:
            value = proxy(*args)
        except CandidateExited:
            raise
        except BaseException as exc:
            info = _exception_info(exc)
            outputs.append(
                {"raise": {"type": info["type"], "message": info["message"]}, "seconds": time.perf_counter() - started}
            )
            continue
        outputs.append({"value": json.loads(encode(value)), "seconds": time.perf_counter() - started})
    return {"status": "passed", "outputs": outputs}


PARTS = {"check": _part_check, "asserts": _part_asserts, "io": _part_io, "record": _part_record}


def _failure(status, info=None, **extra):
    verdict = {"status": status}
    if info:
        verdict.update({k: info.get(k) for k in ("type", "message", "line", "traceback")})
    verdict.update(extra)
    return verdict


def _run_part(spec, part, proxy, channel, state):
    channel.last_raise = None
    try:
        return PARTS[part["kind"]](spec, part, proxy, state)
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


# Programs up to this size are compiled here and reach the candidate as a code object: compiling is most of what
# loading a program costs, and done in the candidate's freshly forked process every page the compiler touches is a
# copy-on-write fault (~100 of them for a 30-line function, a third of a millisecond here). Compiling runs none of the
# program's code; larger sources are compiled by the candidate itself, under its memory limit.
COMPILE_HERE_MAX = 64 * 1024


def _program_message(program):
    """What the candidate is sent: (entry point, code object), or (entry point, source) for a large program. A
    program that does not compile gets its error back instead, exactly as the candidate would have raised it."""
    source, entry = program.get("code", ""), program.get("entry_point", "")
    if not isinstance(source, str) or not isinstance(entry, str):
        raise ValueError("malformed program")
    if len(source) > COMPILE_HERE_MAX:
        return marshal.dumps((entry, source)), None
    try:
        code = compile(source, CANDIDATE_FILE, "exec", dont_inherit=True)
    except BaseException as exc:  # SyntaxError, ValueError (NUL bytes), RecursionError, MemoryError
        return None, _exception_info(exc)
    return marshal.dumps((entry, code)), None


def _judge(spec, program, channel):
    message, compile_error = _program_message(program)
    if compile_error is not None:
        return _failure("error", compile_error, phase="load")
    try:
        write_frame(channel.fd, message)
    except OSError:
        return _failure(
            "exited_early", {"type": "CandidateExited", "message": "the candidate closed its channel"}, phase="load"
        )
    del message
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
    first_failure, results, outputs = None, {}, None
    for part in spec["parts"]:
        needed = part.get("requires")
        if needed and not results.get(needed, {}).get("passed"):
            results[part["name"]] = {"passed": False, "status": "skipped"}
            continue
        verdict = _run_part(spec, part, proxy, channel, {})
        results[part["name"]] = {
            "passed": verdict["status"] == "passed",
            "status": verdict["status"],
            "failed_input": verdict.get("failed_input"),
        }
        if "outputs" in verdict:
            outputs = verdict["outputs"]
        if verdict["status"] != "passed" and first_failure is None:
            first_failure = verdict
        if verdict["status"] == "exited_early":
            break
    verdict = dict(first_failure) if first_failure else {"status": "passed"}
    verdict["parts"] = results
    if outputs is not None:
        verdict["outputs"] = outputs
    return verdict


def _prepare(spec):
    """Compile and decode a spec once; the harness keeps it for every sample of the same problem."""
    spec["_setup"] = compile(spec.get("setup") or "", "<setup>", "exec")
    for part in spec["parts"]:
        part["_test"] = compile(part.get("test") or "", "<test>", "exec")
        part["_asserts"] = [compile(a, "<test>", "exec") for a in part.get("asserts") or []]
        # Test data comes from the suite, not from a candidate: it may be as large as the suite needs.
        part["_inputs"] = decode(part["inputs"].encode(), 1 << 40) if part.get("inputs") else []
        part["_expected"] = decode(part["expected"].encode(), 1 << 40) if part.get("expected") else []
    return spec


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
# Specs with large expected outputs (EvalPlus) decode to much more than their size: keep the cache modest.
SPEC_CACHE_BYTES = 32 << 20


_FD_SPACE = socket.CMSG_SPACE(4)


def _received_fd(ancdata):
    """The descriptor R passed with its message (SCM_RIGHTS), or -1."""
    for level, kind, payload in ancdata:
        if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS and len(payload) >= 4:
            return int.from_bytes(payload[:4], sys.byteorder, signed=True)
    return -1


def serve_harness(ctl_sock, spec_fd, code_fd, verdict_fd):
    """T's loop: one program per message from R, which brings a fresh channel to that program's candidate. The test
    spec and the program come from the host through pipes of their own."""
    for name in _IGNORED_IN_HARNESS:
        sig = getattr(signal, name, None)
        if sig is not None:
            signal.signal(sig, signal.SIG_IGN)
    compiled, cached_bytes = {}, 0
    while True:
        try:
            data, ancdata, _, _ = ctl_sock.recvmsg(65536, _FD_SPACE)
        except OSError:
            os._exit(0)
        if not data:
            os._exit(0)
        request = loads_json(data)
        channel_fd = _received_fd(ancdata)
        channel = None
        try:
            raw = _read_exact(spec_fd, request["spec_len"])
            key = request["spec_key"]
            spec = compiled.pop(key, None)
            if spec is None:
                spec = _prepare(json.loads(raw))
                spec["_size"] = len(raw)
                cached_bytes += spec["_size"]
            compiled[key] = spec  # most recently used last
            while len(compiled) > 1 and (len(compiled) > SPEC_CACHE_SIZE or cached_bytes > SPEC_CACHE_BYTES):
                cached_bytes -= compiled.pop(next(iter(compiled)))["_size"]
            del raw
            program = loads_json(_read_exact(code_fd, request["code_len"]))
            before = time.process_time()
            channel = Channel(channel_fd)
            verdict = _judge(spec, program, channel)
            verdict["harness_cpu_s"] = round(time.process_time() - before, 6)
        except BaseException as exc:  # a broken test spec is the platform's fault, not the candidate's
            verdict = _failure("harness_error", _exception_info(exc))
        sender = channel.release() if channel is not None else 0
        if channel_fd >= 0:
            os.close(channel_fd)
        send_json(verdict_fd, verdict)
        # Done, and which process the candidate's messages came from (Channel.sender), for R to check.
        ctl_sock.sendall(DONE + sender.to_bytes(4, sys.byteorder, signed=True))
