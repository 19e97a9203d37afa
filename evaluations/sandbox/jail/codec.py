"""Exact-typed value encoding between the trusted harness and the candidate (standard library only).

Values cross as JSON with type tags, so a tuple stays a tuple, a float a float, dict keys keep their types, and
nothing but plain data can cross: no pickles, no code, no objects with their own ``__eq__``. Subclasses of built-in
types (numpy's float64 is a float) travel as their base value or as a numpy tag; anything else arrives as an
``Unrepresentable`` that equals nothing. The decoder trusts nothing it reads.
"""

import base64

from .common import compact_json, loads_json  # jail: concatenated

MAX_DEPTH = 200
MAX_ITEMS = 10_000_000
MAX_ITER_ITEMS = 1_000_000
# JSON integers are written and read in decimal, which Python caps (4300 digits); larger ones travel in hex.
BIG_INT = 10**4000


class CodecError(ValueError):
    pass


class Unrepresentable:
    """A value the candidate returned that cannot cross as data; it compares unequal to everything."""

    __slots__ = ("repr_text", "type_name")

    def __init__(self, type_name: str, repr_text: str):
        self.type_name = type_name
        self.repr_text = repr_text

    def __eq__(self, other):
        return False

    def __ne__(self, other):
        return True

    __hash__ = None

    def __bool__(self):
        return False

    def __repr__(self):
        return f"<unrepresentable {self.type_name}: {self.repr_text}>"


def _numpy(load=False):
    """numpy if the program loaded it (encoding), or importable here (decoding, in the trusted harness)."""
    import sys

    module = sys.modules.get("numpy")
    if module is None and load:
        try:
            import numpy as module
        except ImportError:
            return None
    return module


def _encode(value, depth):
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -BIG_INT < value < BIG_INT else {"t": "int", "v": hex(value)}
    if t is float:
        # JSON numbers round-trip floats exactly in Python (shortest repr; NaN and Infinity included).
        return value
    if t is list:
        return [_encode(v, depth + 1) for v in value]
    if t is tuple:
        return {"t": "tuple", "v": [_encode(v, depth + 1) for v in value]}
    if t is dict:
        return {"t": "dict", "v": [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in value.items()]}
    if t is set or t is frozenset:
        return {"t": t.__name__, "v": [_encode(v, depth + 1) for v in value]}
    if t is bytes:
        return {"t": "bytes", "v": base64.b64encode(value).decode()}
    if t is complex:
        return {"t": "complex", "v": [float.hex(value.real), float.hex(value.imag)]}
    np = _numpy()
    if np is not None and isinstance(value, (np.ndarray, np.generic)):
        if value.dtype.hasobject:
            return _unrepresentable(value)
        arr = np.asarray(value)
        tag = "ndarray" if isinstance(value, np.ndarray) else "npscalar"
        return {
            "t": tag,
            "dtype": arr.dtype.str,
            "shape": list(arr.shape),
            "v": base64.b64encode(arr.tobytes(order="C")).decode(),
        }
    # Subclasses of built-in scalars: the base value, read through the base type's own slot (overrides ignored).
    if isinstance(value, bool):
        return bool(int.__index__(value))
    if isinstance(value, int):
        return _encode(int.__index__(value), depth)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, str):
        return str.__str__(value)
    # Container subclasses (Counter, OrderedDict, defaultdict, namedtuple, ...) compare equal to their base type,
    # so they cross as it, read through the base type's own methods (overrides ignored).
    if isinstance(value, dict):
        items = [[_encode(k, depth + 1), _encode(v, depth + 1)] for k, v in dict.items(value)]
        return {"t": "dict", "v": items}
    if isinstance(value, list):
        return [_encode(v, depth + 1) for v in list.__iter__(value)]
    if isinstance(value, tuple):
        return {"t": "tuple", "v": [_encode(v, depth + 1) for v in tuple.__iter__(value)]}
    if isinstance(value, (set, frozenset)):
        base = frozenset if isinstance(value, frozenset) else set
        return {"t": base.__name__, "v": [_encode(v, depth + 1) for v in base.__iter__(value)]}
    if t.__name__ in ("generator", "map", "filter", "zip", "range", "reversed", "enumerate") or t.__name__.endswith(
        "iterator"
    ):
        items = []
        for item in value:
            items.append(_encode(item, depth + 1))
            if len(items) > MAX_ITER_ITEMS:
                return _unrepresentable(value)
        return {"t": "iter", "kind": t.__name__, "v": items}
    return _unrepresentable(value)


def _unrepresentable(value):
    try:
        text = object.__repr__(value)
    except Exception:
        text = "?"
    return {"t": "unrep", "type": type(value).__name__[:100], "v": text[:200]}


def encode(value) -> bytes:
    """Encode ``value`` to bytes (raises CodecError when it is nested too deeply)."""
    try:
        return compact_json(_encode(value, 0)).encode()
    except RecursionError as exc:
        raise CodecError("value nested too deeply") from exc


def _float(text):
    if type(text) is not str:
        raise CodecError("bad float")
    try:
        return float.fromhex(text)
    except (ValueError, OverflowError) as exc:
        raise CodecError("bad float") from exc


def _list(v):
    if type(v) is not list:
        raise CodecError("expected a list")
    return v


def _decode(node, depth, budget):
    budget[0] -= 1
    if budget[0] < 0:
        raise CodecError("value too large")
    if depth > MAX_DEPTH:
        raise CodecError("value nested too deeply")
    t = type(node)
    if node is None or t is bool or t is str or t is int or t is float:
        return node
    if t is list:
        return [_decode(v, depth + 1, budget) for v in node]
    if t is not dict:
        raise CodecError(f"unexpected {t.__name__}")
    tag = node.get("t")
    v = node.get("v")
    if tag == "float":
        return _float(v)
    if tag == "int":
        if type(v) is not str:
            raise CodecError("bad int")
        return int(v, 16)
    if tag == "tuple":
        return tuple(_decode(x, depth + 1, budget) for x in _list(v))
    if tag == "dict":
        out = {}
        for pair in _list(v):
            if type(pair) is not list or len(pair) != 2:
                raise CodecError("bad dict item")
            out[_decode(pair[0], depth + 1, budget)] = _decode(pair[1], depth + 1, budget)
        return out
    if tag == "set":
        return {_decode(x, depth + 1, budget) for x in _list(v)}
    if tag == "frozenset":
        return frozenset(_decode(x, depth + 1, budget) for x in _list(v))
    if tag == "bytes":
        return base64.b64decode(v, validate=True)
    if tag == "complex":
        pair = _list(v)
        if len(pair) != 2:
            raise CodecError("bad complex")
        return complex(_float(pair[0]), _float(pair[1]))
    if tag in ("ndarray", "npscalar"):
        np = _numpy(load=True)
        if np is None:
            return Unrepresentable("numpy." + str(tag), "numpy is not available to the checker")
        dtype = np.dtype(str(node.get("dtype")))
        if dtype.hasobject:
            raise CodecError("object arrays cannot cross")
        shape = tuple(int(x) for x in _list(node.get("shape")))
        arr = np.frombuffer(base64.b64decode(v, validate=True), dtype=dtype).reshape(shape).copy()
        return arr if tag == "ndarray" else arr[()]
    if tag == "iter":
        return iter([_decode(x, depth + 1, budget) for x in _list(v)])
    if tag == "unrep":
        return Unrepresentable(str(node.get("type"))[:100], str(v)[:200])
    raise CodecError(f"unknown tag {tag!r}")


def decode(data: bytes, max_items: int = MAX_ITEMS):
    """Decode bytes produced by ``encode``; anything malformed raises CodecError."""
    try:
        node = loads_json(data)
        return _decode(node, 0, [max_items])
    except CodecError:
        raise
    except (ValueError, TypeError, RecursionError, OverflowError) as exc:
        raise CodecError(f"malformed value: {type(exc).__name__}") from exc
