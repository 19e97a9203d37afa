"""Framing and process plumbing shared by the jail's processes (standard library only)."""

import json
import os
import struct
import traceback

FRAME_LIMIT = 256 * 1024 * 1024
CANDIDATE_FILE = "<candidate>"
RESULT = b"\x00"  # first byte of a frame that carries an encoded return value rather than a JSON message
MARSHALLED = b"\x01"  # first byte of a frame of arguments in marshal format rather than the JSON codec's
RUN = b"T"  # first byte of a program's header when the limits are the last ones: the rest is the harness's request
DONE = b"d"  # T to R: a program is judged; 4 bytes follow, the pid its candidate's messages came from (harness.py)
_HEADER = struct.Struct(">I")
_FIRST_READ = 8192


# --- framing ------------------------------------------------------------------------------------------------------
def _read_exact(fd, n, read=os.read):
    # One read nearly always does: frames are small and written whole. (os.read and os.write retry EINTR themselves.)
    first = read(fd, min(n, 1 << 20)) if n else b""
    if len(first) == n:
        return first
    if not first:
        return None
    chunks, got = [first], len(first)
    while got < n:
        chunk = read(fd, min(n - got, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def _write_all(fd, data):
    written = os.write(fd, data)
    if written == len(data):
        return
    view = memoryview(data)[written:]
    while view:
        view = view[os.write(fd, view) :]


def read_frame(fd, limit=FRAME_LIMIT, read=os.read):
    """The next frame's payload (None at the end of the stream). Every channel read this way carries one frame at a
    time, each written in one call, so one read nearly always brings all of it; more than one frame is an error.
    ``read``: what reads from ``fd`` (``os.read``'s signature)."""
    data = read(fd, _FIRST_READ)
    if len(data) < 4:
        if not data:
            return None
        rest = _read_exact(fd, 4 - len(data), read)
        if rest is None:
            return None
        data += rest
    (n,) = _HEADER.unpack_from(data)
    if n > limit:
        raise ValueError("frame too large")
    have = len(data) - 4
    if have == n:
        return data[4:]
    if have > n:
        raise ValueError("more than one frame")
    rest = _read_exact(fd, n - have, read)
    return None if rest is None else data[4:] + rest


def frame(payload: bytes) -> bytes:
    """A frame: the payload's length (4 bytes, big-endian), then the payload."""
    return _HEADER.pack(len(payload)) + payload


def write_frame(fd, payload: bytes):
    _write_all(fd, frame(payload))


# One encoder for every message, made once: in a freshly forked process every object built touches pages that are
# not yet its own, and JSONEncoder.encode builds a C encoder and a nested function on every call (8 more copy-on-write
# faults per call in a program's process). No circular-reference check: every value encoded here is built afresh
# (codec._encode, exception descriptions, reports), and a cycle would end in RecursionError, not a hang.
def _not_serializable(obj):
    raise TypeError(f"Object of type {type(obj).__name__} is not JSON serializable")


_make_encoder = json.encoder.c_make_encoder
if _make_encoder is not None:
    _encode_chunks = _make_encoder(
        None, _not_serializable, json.encoder.encode_basestring_ascii, None, ":", ",", False, False, True
    )

    def compact_json(obj):
        """``obj`` as compact JSON text: what ``json.dumps(obj, separators=(",", ":"))`` returns."""
        return "".join(_encode_chunks(obj, 0))

else:  # an interpreter without the _json accelerator
    compact_json = json.JSONEncoder(separators=(",", ":")).encode


def send_json(fd, obj):
    write_frame(fd, compact_json(obj).encode())


_scan_json = json.JSONDecoder().scan_once


def loads_json(data):
    """One JSON value from UTF-8 bytes, with nothing before or after it (what compact_json writes); anything else
    raises ValueError. json.loads does the same through Python-level encoding detection and two regular-expression
    matches per call."""
    text = data.decode("utf-8")
    try:
        value, end = _scan_json(text, 0)
    except StopIteration as exc:
        raise ValueError("not a JSON value") from exc
    if end != len(text):
        raise ValueError("data after the JSON value")
    return value


def recv_json(fd, limit=FRAME_LIMIT):
    data = read_frame(fd, limit)
    return None if data is None else loads_json(data)


# --- process plumbing -----------------------------------------------------------------------------------------------
def _set_dumpable(flag):
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 1 if flag else 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def _close_fds_except(keep):
    keep = sorted(set(keep))
    low = 0
    for fd in [*keep, None]:
        high = 1 << 16 if fd is None else fd
        if high > low:
            os.closerange(low, high)
        low = (fd or 0) + 1


def _devnull_std():
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    if null > 2:
        os.close(null)


def _join_cgroup(fd):
    """Move this process into the cgroup whose cgroup.procs the host opened as ``fd``. The kernel checks the
    opener's rights, so an unprivileged process is placed this way, and without the descriptor cannot leave."""
    try:
        os.write(fd, b"0")
    except OSError as exc:
        return f"cannot join: {exc}"
    return "joined"


def _exception_info(exc, tb_limit=2000):
    tb = exc.__traceback__
    line = None
    for frame, lineno in traceback.walk_tb(tb):
        if frame.f_code.co_filename == CANDIDATE_FILE:
            line = lineno
    if isinstance(exc, SyntaxError) and exc.filename == CANDIDATE_FILE:
        line = exc.lineno
    try:
        message = str(exc)
    except Exception:
        message = "<unprintable>"
    try:
        text = "".join(traceback.format_exception(type(exc), exc, tb))
    except Exception:
        text = ""
    return {
        "type": type(exc).__name__[:100],
        "module": type(exc).__module__[:100],
        "message": message[:2000],
        "line": line,
        "traceback": text[-tb_limit:],
    }
