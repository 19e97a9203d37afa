"""Suite importers: parse a source into problems (line- and field-named errors), then prepare them in the sandbox."""

from ..choices import SourceFormat
from .base import ParsedProblem, SuiteImportError
from .custom import parse_custom
from .evalplus import parse_evalplus, parse_humaneval
from .mbpp import parse_mbpp
from .prepare import Preparation, PreparedProblem, prepare
from .sources import Source, source_from_bytes, source_from_path, source_from_url

PARSERS = {
    SourceFormat.HUMANEVAL: parse_humaneval,
    SourceFormat.EVALPLUS: parse_evalplus,
    SourceFormat.MBPP: parse_mbpp,
    SourceFormat.CUSTOM: parse_custom,
}

__all__ = [
    "PARSERS",
    "ParsedProblem",
    "Preparation",
    "PreparedProblem",
    "Source",
    "SuiteImportError",
    "prepare",
    "source_from_bytes",
    "source_from_path",
    "source_from_url",
]
