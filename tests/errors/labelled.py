"""A labelled set of failing programs, written for the tests: (id, program, test, expected leaf).

Each program defines ``f`` (unless the case is about the entry point) and is judged by ``TEST`` or its own test, in
the real sandbox; the leaf is what errors.classification must find from the outcome.
"""

TEST = "def check(candidate):\n    assert candidate(1) == 2\n"


def _msg(expected: str) -> str:
    """A test whose assertion message reports the expected and the actual value."""
    check = "def check(candidate):\n    r = candidate(1)\n"
    return check + f"    assert r == {expected}, f'expected {expected}, got {{r}}'\n"


CASES = [
    # syntax.missing_parenthesis: a bracket or quote left open (with code after it) or closed without an opening one
    ("paren-unclosed", "def f(x):\n    y = max((x, 1)\n    return y + 1\n", TEST, "syntax.missing_parenthesis"),
    ("paren-unmatched", "def f(x):\n    return x + 1)\n", TEST, "syntax.missing_parenthesis"),
    ("paren-mismatch", "def f(x):\n    return [x + 1)\n", TEST, "syntax.missing_parenthesis"),
    ("quote-unterminated", "def f(x):\n    s = 'abc\n    return x + 1\n", TEST, "syntax.missing_parenthesis"),
    # syntax.indentation
    ("indent-unindent", "def f(x):\n        y = x\n    return y + 1\n", TEST, "syntax.indentation"),
    ("indent-unexpected", "def f(x):\n    y = x\n        return y + 1\n", TEST, "syntax.indentation"),
    ("indent-block", "def f(x):\n    if x:\n    return x + 1\n    return 0\n", TEST, "syntax.indentation"),
    ("indent-tabs", "def f(x):\n\tif x:\n        return x + 1\n\treturn 0\n", TEST, "syntax.indentation"),
    # syntax.invalid_syntax
    ("invalid-colon", "def f(x)\n    return x + 1\n", TEST, "syntax.invalid_syntax"),
    ("invalid-operator", "def f(x):\n    return x +* 1\n", TEST, "syntax.invalid_syntax"),
    ("invalid-prose", "def f(x):\n    return x + 1 which adds one to x\n", TEST, "syntax.invalid_syntax"),
    ("invalid-let", "def f(x):\n    let y = x + 1\n    return y\n", TEST, "syntax.invalid_syntax"),
    # syntax.incomplete_code: the text stops inside a construct (truncated output)
    ("incomplete-list", "def f(x):\n    return max([x + 1,\n", TEST, "syntax.incomplete_code"),
    ("incomplete-block", "def f(x):\n    if x > 0:\n", TEST, "syntax.incomplete_code"),
    ("incomplete-docstring", 'def f(x):\n    return x + 1\n"""Explanation:\n', TEST, "syntax.incomplete_code"),
    ("incomplete-string", "def f(x):\n    return x + 1\nprint('done", TEST, "syntax.incomplete_code"),
    # semantic.type_error
    ("type-concat", "def f(x):\n    return x + 'a'\n", TEST, "semantic.type_error"),
    ("type-len", "def f(x):\n    return len(x)\n", TEST, "semantic.type_error"),
    ("type-iterate", "def f(x):\n    return sum(i for i in x)\n", TEST, "semantic.type_error"),
    ("type-none", "def g(x):\n    pass\n\ndef f(x):\n    return g(x) + 1\n", TEST, "semantic.type_error"),
    # semantic.name_error
    ("name-helper", "def f(x):\n    return helper(x)\n", TEST, "semantic.name_error"),
    ("name-module", "def f(x):\n    return math.floor(x) + 1\n", TEST, "semantic.name_error"),
    ("name-import", "def f(x):\n    return reduce(lambda a, b: a + b, [x, 1])\n", TEST, "semantic.name_error"),
    ("name-unbound", "def f(x):\n    if x > 5:\n        y = 1\n    return y + x\n", TEST, "semantic.name_error"),
    # semantic.import_error
    ("import-missing", "import nonexistent_pkg_xyz\n\ndef f(x):\n    return x + 1\n", TEST, "semantic.import_error"),
    ("import-name", "from collections import Foo\n\ndef f(x):\n    return x + 1\n", TEST, "semantic.import_error"),
    ("import-lazy", "def f(x):\n    import torch\n    return x + 1\n", TEST, "semantic.import_error"),
    # semantic.attribute_error
    ("attr-int", "def f(x):\n    x.append(1)\n    return x\n", TEST, "semantic.attribute_error"),
    ("attr-str", "def f(x):\n    return 'ab'.push(x)\n", TEST, "semantic.attribute_error"),
    ("attr-module", "import math\n\ndef f(x):\n    return math.isprime(x)\n", TEST, "semantic.attribute_error"),
    # semantic.index_error
    ("index-list", "def f(x):\n    return [x][1]\n", TEST, "semantic.index_error"),
    ("index-str", "def f(x):\n    return 'a'[x + 5]\n", TEST, "semantic.index_error"),
    ("index-pop", "def f(x):\n    return [].pop()\n", TEST, "semantic.index_error"),
    # semantic.key_error
    ("key-dict", "def f(x):\n    return {0: 1}[x]\n", TEST, "semantic.key_error"),
    ("key-str", "def f(x):\n    d = {'a': 1}\n    return d['b'] + x\n", TEST, "semantic.key_error"),
    ("key-set", "def f(x):\n    s = set()\n    s.remove(x)\n    return x\n", TEST, "semantic.key_error"),
    # semantic.value_error
    ("value-int", "def f(x):\n    return int('two')\n", TEST, "semantic.value_error"),
    ("value-math", "import math\n\ndef f(x):\n    return math.sqrt(-x)\n", TEST, "semantic.value_error"),
    ("value-min", "def f(x):\n    return min([])\n", TEST, "semantic.value_error"),
    ("value-json", "import json\n\ndef f(x):\n    return json.loads('nope')\n", TEST, "semantic.value_error"),
    ("value-unpack", "def f(x):\n    a, b = [x]\n    return a + b\n", TEST, "semantic.value_error"),
    # semantic.zero_division
    ("zero-div", "def f(x):\n    return x / 0\n", TEST, "semantic.zero_division"),
    ("zero-floordiv", "def f(x):\n    return x // (x - 1)\n", TEST, "semantic.zero_division"),
    ("zero-mod", "def f(x):\n    return x % 0\n", TEST, "semantic.zero_division"),
    # semantic.recursion
    ("recursion-self", "def f(x):\n    return f(x) + 1\n", TEST, "semantic.recursion"),
    ("recursion-mutual", "def g(x):\n    return f(x)\n\ndef f(x):\n    return g(x + 1)\n", TEST, "semantic.recursion"),
    # semantic.wrong_answer
    ("wrong-plain", "def f(x):\n    return x\n", TEST, "semantic.wrong_answer"),
    (
        "wrong-message",
        "def f(x):\n    return 0\n",
        "def check(candidate):\n    assert candidate(1) == 2, 'Test 1'\n",
        "semantic.wrong_answer",
    ),
    ("wrong-far", "def f(x):\n    return 7\n", _msg("2"), "semantic.wrong_answer"),
    ("wrong-own-assert", "def f(x):\n    assert x > 5\n    return x\n", TEST, "semantic.wrong_answer"),
    ("wrong-list", "def f(x):\n    return [3, 2, 1]\n", _msg("[1, 2, 3]"), "semantic.wrong_answer"),
    # semantic.off_by_one: the failing assertion reports expected and actual values one apart
    ("obo-number", "def f(x):\n    return x + 2\n", _msg("2"), "semantic.off_by_one"),
    ("obo-below", "def f(x):\n    return x\n", _msg("2"), "semantic.off_by_one"),
    ("obo-list", "def f(x):\n    return [1, 2]\n", _msg("[1, 2, 3]"), "semantic.off_by_one"),
    (
        "obo-ne",
        "def f(x):\n    return list(range(x, 4))\n",
        "def check(candidate):\n    r = candidate(1)\n    assert r == [1, 2, 3, 4], f'{r} != [1, 2, 3, 4]'\n",
        "semantic.off_by_one",
    ),
    # semantic.wrong_signature: arity, keyword or a renamed entry point
    ("signature-arity", "def f():\n    return 2\n", TEST, "semantic.wrong_signature"),
    ("signature-extra", "def f(x, y):\n    return x + y\n", TEST, "semantic.wrong_signature"),
    (
        "signature-keyword",
        "def f(y):\n    return y + 1\n",
        "def check(candidate):\n    assert candidate(x=1) == 2\n",
        "semantic.wrong_signature",
    ),
    ("signature-renamed", "def add_one(x):\n    return x + 1\n", TEST, "semantic.wrong_signature"),
    # performance.timeout: slow, but its loops can end
    (
        "timeout-range",
        "def f(x):\n    for i in range(10 ** 12):\n        x += i\n    return x\n",
        TEST,
        "performance.timeout",
    ),
    ("timeout-sleep", "import time\n\ndef f(x):\n    time.sleep(30)\n    return x + 1\n", TEST, "performance.timeout"),
    (
        "timeout-progress",
        "def f(x):\n    n = 10 ** 12\n    while n > 0:\n        n -= 1\n    return x + 1\n",
        TEST,
        "performance.timeout",
    ),
    # performance.infinite_loop: a while loop that statically cannot end
    ("loop-true", "def f(x):\n    while True:\n        x += 1\n    return x\n", TEST, "performance.infinite_loop"),
    (
        "loop-stuck",
        "def f(x):\n    i, total = 0, 0\n    while i < 10:\n        total += x\n    return total\n",
        TEST,
        "performance.infinite_loop",
    ),
    ("loop-one", "def f(x):\n    while 1:\n        pass\n", TEST, "performance.infinite_loop"),
    # performance.memory
    ("memory-bytes", "def f(x):\n    return len(bytearray(8 << 30))\n", TEST, "performance.memory"),
    ("memory-list", "def f(x):\n    return len([0] * (10 ** 10))\n", TEST, "performance.memory"),
    # harness.exited_early
    ("exit-sys", "import sys\n\ndef f(x):\n    sys.exit(0)\n", TEST, "harness.exited_early"),
    ("exit-os", "import os\n\ndef f(x):\n    os._exit(0)\n", TEST, "harness.exited_early"),
    ("exit-import", "import sys\nsys.exit(0)\n\ndef f(x):\n    return x + 1\n", TEST, "harness.exited_early"),
    # harness.crashed
    ("crash-ctypes", "import ctypes\n\ndef f(x):\n    return ctypes.string_at(0)\n", TEST, "harness.crashed"),
    (
        "crash-signal",
        "import os, signal\n\ndef f(x):\n    os.kill(os.getpid(), signal.SIGSEGV)\n",
        TEST,
        "harness.crashed",
    ),
]
