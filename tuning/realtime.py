from codequal.realtime import register_channel

from .models import TuningJob


@register_channel("tuning")
def tuning_channel(user, job_id: int) -> bool:
    """A tuning job's ``tuning_update`` events (stage, progress, loss), for anyone who can see its project."""
    return TuningJob.objects.for_user(user, "view").filter(pk=job_id).exists()
