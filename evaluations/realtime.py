from codequal.realtime import register_channel

from .models import Evaluation


@register_channel("evaluation")
def evaluation_channel(user, evaluation_id: int) -> bool:
    """An evaluation's progress, results, errors and completion, for anyone who can see its project."""
    return Evaluation.objects.for_user(user, "view").filter(pk=evaluation_id).exists()
