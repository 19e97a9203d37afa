from .runs import Evaluation, EvaluationChunk, EvaluationModel, GenerationCacheEntry, Sample
from .suites import BenchmarkSuite, Problem

__all__ = [
    "BenchmarkSuite",
    "Evaluation",
    "EvaluationChunk",
    "EvaluationModel",
    "GenerationCacheEntry",
    "Problem",
    "Sample",
]
