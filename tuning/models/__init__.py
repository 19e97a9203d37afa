from .datasets import TuningDataset, TuningExample
from .jobs import TuningJob, TuningStep

__all__ = ["TuningDataset", "TuningExample", "TuningJob", "TuningStep"]
