"""From parsed rows to storable problems: expected outputs recorded from the reference solution in the sandbox,
then every reference solution run against its own finished tests. No database access here."""

import json
import math
from dataclasses import dataclass, field

from django.conf import settings

from ..harnesses import harness_from_spec
from ..sandbox.engine import SandboxPool
from ..sandbox.jail.codec import decode
from ..sandbox.oracle import OracleRequest, encode_inputs, record_outputs
from ..sandbox.types import Limits, Program
from .base import ParsedProblem

# The reference gets far more room than a sample: a slow reference is the suite's business, not a failure.
REFERENCE_LIMITS = Limits(timeout_s=120.0, memory_mb=4096)
# A sample may take this many times what the reference took (EvalPlus uses 4x per input), plus a second.
TIMEOUT_FACTOR = 4.0
_DECODE_BUDGET = 1 << 40


@dataclass
class PreparedProblem:
    parsed: ParsedProblem
    test_spec: dict
    timeout_s: float
    flag_reason: str = ""


@dataclass
class Preparation:
    problems: list[PreparedProblem] = field(default_factory=list)
    verified: int = 0

    @property
    def broken(self) -> list[PreparedProblem]:
        return [p for p in self.problems if p.flag_reason]


def program_code(parsed: ParsedProblem, completion: str) -> str:
    return parsed.prompt + completion if parsed.prompt_is_code else completion


def _generated_check(kind: str, inputs: list, expected: list) -> str:
    """A check(candidate) for EvalPlus's looser comparisons; cases are Python literals of codec-exact values."""
    cases = repr([(list(args), value) for args, value in zip(inputs, expected, strict=True)])
    compare = {
        "not_none": (
            "        if isinstance(out, bool):\n"
            "            assert out == expected, f'wrong output for input #{index}'\n"
            "        else:\n"
            "            assert expected == (out is not None), f'wrong output for input #{index}'\n"
        ),
        "set_eq": "        assert set(out) == set(expected), f'wrong output for input #{index}'\n",
    }[kind]
    return (
        "def _cases():\n"
        "    inf, nan = float('inf'), float('nan')\n"
        f"    return {cases}\n\n\n"
        "def check(candidate):\n"
        "    for index, (args, expected) in enumerate(_cases()):\n"
        "        out = candidate(*args)\n" + compare
    )


def _fill_part(part: dict, kind: str, inputs: list, nodes: list) -> dict:
    if not kind:
        return {**part, "inputs": encode_inputs(inputs), "expected": json.dumps(nodes, separators=(",", ":"))}
    if kind == "not_none":
        expected = [node is not None for node in nodes]
    else:
        expected = [decode(json.dumps(node).encode(), _DECODE_BUDGET) for node in nodes]
    filled = {k: v for k, v in part.items() if k not in ("atol", "oracle")}
    return {**filled, "kind": "check", "test": _generated_check(kind, inputs, expected)}


def _timeout_for(seconds: float) -> float:
    return math.ceil((TIMEOUT_FACTOR * seconds + 1.0) * 10) / 10


def _record(problems: list[ParsedProblem], specs, reasons, timeouts, pool: SandboxPool) -> None:
    wanted = [i for i, p in enumerate(problems) if p.record]
    requests = [
        OracleRequest(
            key=str(i),
            code=program_code(problems[i], problems[i].canonical_solution),
            entry_point=problems[i].entry_point,
            inputs=[args for name in problems[i].record for args in problems[i].record[name]],
            setup=problems[i].setup,
        )
        for i in wanted
    ]
    if not requests:
        return
    results = record_outputs(requests, timeout_s=REFERENCE_LIMITS.timeout_s, pool=pool)
    for i, result in zip(wanted, results, strict=True):
        parsed = problems[i]
        if not result.ok:
            reasons[i] = "the reference solution failed on its own inputs: " + "; ".join(result.problems[:3])
            # Inputs without expected outputs: the part errors for every candidate instead of passing vacuously.
            for part in specs[i]["parts"]:
                if part["name"] in parsed.record:
                    part["inputs"] = encode_inputs(parsed.record[part["name"]])
            continue
        timeouts[i] = max(timeouts[i], _timeout_for(sum(result.seconds)))
        nodes, start = json.loads(result.expected), 0
        for part in specs[i]["parts"]:
            inputs = parsed.record.get(part["name"])
            if inputs is None:
                continue
            chunk = nodes[start : start + len(inputs)]
            start += len(inputs)
            part.update(_fill_part(part, parsed.special.get(part["name"], ""), inputs, chunk))


def _verify(problems, specs, reasons, timeouts, pool: SandboxPool) -> int:
    todo = [i for i, p in enumerate(problems) if p.canonical_solution and not reasons[i]]
    programs = [
        Program(
            id=str(i),
            code=program_code(problems[i], problems[i].canonical_solution),
            harness=harness_from_spec(problems[i].entry_point, specs[i]),
            limits=REFERENCE_LIMITS,
        )
        for i in todo
    ]
    for i, outcome in zip(todo, pool.run(programs), strict=True):
        if not outcome.passed:
            failed = [f"{name}: {part['status']}" for name, part in outcome.parts.items() if not part.get("passed")]
            detail = f"{outcome.exception_type}: {outcome.exception_message}" if outcome.exception_type else ""
            reasons[i] = "the reference solution does not pass its own tests: " + "; ".join(
                x for x in (str(outcome.status), ", ".join(failed), detail) if x
            )
        elif outcome.duration_s is not None:
            timeouts[i] = max(timeouts[i], _timeout_for(outcome.duration_s))
    return len(todo)


def prepare(problems: list[ParsedProblem], *, environment: str = "default", verify: bool = True) -> Preparation:
    """Record expected outputs and check every reference solution; failures are reasons, not exceptions."""
    specs = [{"setup": p.setup, "parts": [dict(part) for part in p.parts]} for p in problems]
    reasons = [""] * len(problems)
    timeouts = [float(settings.SANDBOX_TIMEOUT_S)] * len(problems)
    verified = 0
    if any(p.record for p in problems) or (verify and any(p.canonical_solution for p in problems)):
        pool = SandboxPool(environment=environment)
        _record(problems, specs, reasons, timeouts, pool)
        if verify:
            verified = _verify(problems, specs, reasons, timeouts, pool)
    prepared = [
        PreparedProblem(parsed=p, test_spec=specs[i], timeout_s=timeouts[i], flag_reason=reasons[i])
        for i, p in enumerate(problems)
    ]
    return Preparation(problems=prepared, verified=verified)
