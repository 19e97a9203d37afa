"""Expected outputs from a reference solution, computed in the sandbox (the reference is data we were given)."""

import json
from dataclasses import dataclass

from .engine import SandboxPool
from .jail.codec import encode
from .types import Harness, Limits, OutcomeStatus, Program, TestPart


@dataclass(frozen=True)
class OracleRequest:
    key: str
    code: str  # prompt + reference solution
    entry_point: str
    inputs: list  # argument lists, as Python values
    setup: str = ""


@dataclass(frozen=True)
class OracleResult:
    key: str
    ok: bool
    expected: str  # codec-encoded list of outputs, one per input
    seconds: list[float]  # the reference's time per input
    problems: list[str]  # what went wrong, per input or for the whole program


def encode_inputs(inputs: list) -> str:
    return encode([list(args) for args in inputs]).decode()


def record_outputs(
    requests: list[OracleRequest],
    *,
    timeout_s: float = 120.0,
    workers: int | None = None,
    pool: SandboxPool | None = None,
) -> list[OracleResult]:
    programs = [
        Program(
            id=r.key,
            code=r.code,
            harness=Harness(
                entry_point=r.entry_point,
                setup=r.setup,
                parts=(TestPart(name="record", kind="record", inputs=encode_inputs(r.inputs)),),
            ),
            limits=Limits(timeout_s=timeout_s, memory_mb=4096),
        )
        for r in requests
    ]
    pool = pool or SandboxPool(workers=workers)
    results = []
    for request, outcome in zip(requests, pool.run(programs), strict=True):
        outputs = outcome.details.get("outputs")
        if outcome.status != OutcomeStatus.PASSED or outputs is None or len(outputs) != len(request.inputs):
            why = f"{outcome.status}: {outcome.exception_type or ''} {outcome.exception_message or ''}".strip()
            results.append(OracleResult(request.key, False, "", [], [why]))
            continue
        raised = [
            f"input #{i}: {o['raise']['type']}: {o['raise']['message']}" for i, o in enumerate(outputs) if "raise" in o
        ]
        values = [o.get("value") for o in outputs]
        results.append(
            OracleResult(
                request.key,
                not raised,
                json.dumps(values, separators=(",", ":")),
                [float(o["seconds"]) for o in outputs],
                raised,
            )
        )
    return results
