"""The order ``list(set(strings))`` has in CPython >= 3.11 run with PYTHONHASHSEED=0, computed in any process.

The reference de-duplicates parent-variable names with ``list(set(...))``; that order decides how the names are
numbered in the normalized data-flow graph and so its data-flow score, which therefore changes with the process's
hash seed. We reproduce the order of one fixed seed, 0 (the value that switches hash randomization off, i.e. how the
reference is run reproducibly): str hashes are SipHash-1-3 with a zero key (CPython >= 3.11), placed in a table that
probes and grows as CPython's set does (Objects/setobject.c). ``tests/evaluations/test_codebleu.py`` checks it against
a real ``set`` in a child process run with PYTHONHASHSEED=0.
"""

from functools import lru_cache

_MASK64 = (1 << 64) - 1
_LINEAR_PROBES = 9
_PERTURB_SHIFT = 5
_MIN_SIZE = 8


def _rotl(x: int, b: int) -> int:
    return ((x << b) | (x >> (64 - b))) & _MASK64


def _round(v0: int, v1: int, v2: int, v3: int) -> tuple[int, int, int, int]:
    v0 = (v0 + v1) & _MASK64
    v2 = (v2 + v3) & _MASK64
    v1 = _rotl(v1, 13) ^ v0
    v3 = _rotl(v3, 16) ^ v2
    v0 = _rotl(v0, 32)
    v2 = (v2 + v1) & _MASK64
    v0 = (v0 + v3) & _MASK64
    v1 = _rotl(v1, 17) ^ v2
    v3 = _rotl(v3, 21) ^ v0
    v2 = _rotl(v2, 32)
    return v0, v1, v2, v3


def _siphash13(data: bytes) -> int:
    """CPython's siphash13 (Python/pyhash.c) with k0 = k1 = 0, as an unsigned 64-bit number."""
    v0, v1, v2, v3 = 0x736F6D6570736575, 0x646F72616E646F6D, 0x6C7967656E657261, 0x7465646279746573
    whole = len(data) - len(data) % 8
    for start in range(0, whole, 8):
        m = int.from_bytes(data[start : start + 8], "little")
        v3 ^= m
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
        v0 ^= m
    b = ((len(data) & 0xFF) << 56) | int.from_bytes(data[whole:], "little")
    v3 ^= b
    v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    v0 ^= b
    v2 ^= 0xFF
    for _ in range(3):
        v0, v1, v2, v3 = _round(v0, v1, v2, v3)
    return v0 ^ v1 ^ v2 ^ v3


@lru_cache(maxsize=65536)
def str_hash(text: str) -> int:
    """``hash(text)`` under PYTHONHASHSEED=0, as the unsigned 64-bit value the set table uses."""
    if not text:
        return 0
    widest = max(map(ord, text))
    width = 1 if widest < 0x100 else 2 if widest < 0x10000 else 4  # CPython's compact str kinds
    encoding = {1: "latin-1", 2: "utf-16-le", 4: "utf-32-le"}[width]
    value = _siphash13(text.encode(encoding, "surrogatepass"))
    return value if value != _MASK64 else _MASK64 - 1  # a hash of -1 becomes -2


def _probe(table: list, mask: int, h: int, text: str | None):
    """Index of ``text`` in the table, or of the free slot where it goes (set_add_entry / set_insert_clean)."""
    i = h & mask
    perturb = h
    while True:
        probes = _LINEAR_PROBES if i + _LINEAR_PROBES <= mask else 0
        for j in range(i, i + probes + 1):
            entry = table[j]
            if entry is None or (text is not None and entry[1] == text):
                return j
        perturb >>= _PERTURB_SHIFT
        i = (i * 5 + 1 + perturb) & mask


def set_order(items) -> list[str]:
    """``list(set(items))`` as CPython >= 3.11 orders it with PYTHONHASHSEED=0 (a set built from a list)."""
    mask = _MIN_SIZE - 1
    table: list = [None] * _MIN_SIZE
    used = 0
    for text in items:
        h = str_hash(text)
        slot = _probe(table, mask, h, text)
        if table[slot] is not None:
            continue
        table[slot] = (h, text)
        used += 1
        if used * 5 >= mask * 3:  # no deletions, so fill == used
            size = _MIN_SIZE
            while size <= used * 4:
                size <<= 1
            old, mask, table = table, size - 1, [None] * size
            for entry in old:
                if entry is not None:
                    table[_probe(table, mask, entry[0], None)] = entry
    return [entry[1] for entry in table if entry is not None]
