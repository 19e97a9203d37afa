from django.db import models


class DatasetStrategy(models.TextChoices):
    """How a tuning dataset is built from failures (every strategy honours the error, model and problem filters)."""

    ERROR_SPECIFIC = "error_specific", "Error-specific (the chosen error categories, by problem)"
    CURRICULUM = "curriculum", "Curriculum (easy to hard by the problem's measured pass rate)"
    CONTRASTIVE = "contrastive", "Contrastive (a passing and a failing solution per prompt)"


class DatasetSplit(models.TextChoices):
    TRAIN = "train", "Train"
    HELD_OUT = "held_out", "Held out"


class ExportFormat(models.TextChoices):
    SFT = "sft", "Supervised: input, output, error_type, difficulty"
    PREFERENCE = "preference", "Preference pairs: prompt, chosen, rejected, error_type, difficulty"


class TuningJobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    COMPLETED = "completed", "Completed"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class TuningStage(models.TextChoices):
    QUEUED = "queued", "Queued"
    LOADING = "loading", "Loading the base model"
    TRAINING = "training", "Training"
    SAVING = "saving", "Saving the adapter"
    REGISTERING = "registering", "Registering the tuned endpoint"
    DONE = "done", "Done"
