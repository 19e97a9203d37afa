from .suites import BenchmarkSuite, Problem

__all__ = ["BenchmarkSuite", "Problem"]
