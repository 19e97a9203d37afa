"""FailureFacts from what the platform stores: a Sample row with its problem, or a results.json row. Pure."""

from .classification import FailureFacts

SAMPLE_FIELDS = (
    "id",
    "status",
    "error_type",
    "error_message",
    "error_line",
    "traceback_tail",
    "output_tail",
    "parts",
    "completion",
    "finish_reason",
    "model__name",
    "problem_id",
    "problem__task_id",
)


def program_of(prompt: str, completion: str, entry_point: str, prompt_is_code: bool = True) -> str:
    """The program that ran: the prompt plus the completion, or the completion alone when it is a whole program."""
    if not prompt_is_code or (entry_point and f"\ndef {entry_point}(" in "\n" + completion):
        return completion
    return prompt + completion


def failing_test_source(test_spec: dict, parts: dict) -> str:
    """The test code of the first failed part (check kind), where the traceback's ``<test>`` line numbers point."""
    failed = [name for name, part in (parts or {}).items() if isinstance(part, dict) and part.get("status") == "failed"]
    for stored in (test_spec or {}).get("parts") or []:
        if stored.get("name") in failed[:1] and stored.get("kind", "check") == "check":
            return stored.get("test") or ""
    return ""


def facts_from_sample(row: dict, problem: dict) -> FailureFacts:
    """``row``: a Sample as ``values(*SAMPLE_FIELDS)``; ``problem``: prompt, entry_point, test_spec, metadata."""
    completion = row.get("completion") or ""
    prompt_is_code = (problem.get("metadata") or {}).get("prompt_is_code", True)
    return FailureFacts(
        status=row["status"],
        exception_type=row.get("error_type") or "",
        message=row.get("error_message") or "",
        line=row.get("error_line"),
        traceback_tail=row.get("traceback_tail") or "",
        output_tail=row.get("output_tail") or "",
        parts=row.get("parts") or {},
        completion=completion,
        program=program_of(problem.get("prompt") or "", completion, problem.get("entry_point") or "", prompt_is_code)
        if completion
        else "",
        finish_reason=row.get("finish_reason") or "",
        entry_point=problem.get("entry_point") or "",
        test_source=failing_test_source(problem.get("test_spec") or {}, row.get("parts") or {}),
    )


def facts_from_result(row: dict) -> FailureFacts:
    """A ``detailed_results`` row of results.json: no prompt or tests there, so the completion stands for the program
    (an indented body is parsed under a stub) and failing assertions are not located."""
    return FailureFacts(
        status=row.get("status") or ("passed" if row.get("passed") else "failed"),
        exception_type=row.get("error_type") or "",
        message=row.get("error_message") or "",
        line=row.get("error_line"),
        traceback_tail=row.get("traceback_tail") or "",
        parts=row.get("parts") or {},
        completion=row.get("completion") or "",
        finish_reason=row.get("finish_reason") or "",
        entry_point=row.get("entry_point") or "",
    )


def facts_from_outcome(outcome, *, program: str, entry_point: str = "", test_source: str = "", finish_reason: str = ""):
    """A sandbox Outcome (evaluations.sandbox.types) of ``program``, as a run would store it."""
    return FailureFacts(
        status=str(outcome.status),
        exception_type=outcome.exception_type or "",
        message=outcome.exception_message or "",
        line=outcome.line,
        traceback_tail=outcome.traceback_tail or "",
        output_tail=outcome.output_tail or "",
        parts=outcome.parts or {},
        program=program,
        finish_reason=finish_reason,
        entry_point=entry_point,
        test_source=test_source,
    )
