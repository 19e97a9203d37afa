"""Evaluation runs: configuration, generation, execution, orchestration and results."""
