"""Live events: channel names (``kind:id``), who may subscribe to them, and the one ``notify`` helper.

Apps register a resolver per channel kind that answers whether a user may subscribe, using their scoped selectors;
workers and services publish with ``notify`` (after commit) and never talk to the channel layer directly.
"""

import logging
import re
from collections.abc import Callable

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

_CHANNEL_RE = re.compile(r"^(?P<kind>[a-z_]+):(?P<id>[0-9]{1,18})$")
_resolvers: dict[str, Callable[[object, int], bool]] = {}


def register_channel(kind: str):
    """Decorator: ``resolver(user, object_id) -> bool`` says whether ``user`` may follow ``kind:<object_id>``."""

    def decorator(resolver):
        _resolvers[kind] = resolver
        return resolver

    return decorator


def parse_channel(channel: str) -> tuple[str, int] | None:
    match = _CHANNEL_RE.match(channel or "")
    if match is None or match["kind"] not in _resolvers:
        return None
    return match["kind"], int(match["id"])


def user_may_follow(user, channel: str) -> bool:
    parsed = parse_channel(channel)
    if parsed is None or user is None or not user.is_authenticated or not user.is_active:
        return False
    kind, object_id = parsed
    return bool(_resolvers[kind](user, object_id))


def group_name(channel: str) -> str:
    # Channel-layer group names allow letters, digits, hyphens, underscores and periods only.
    return "cqb." + channel.replace(":", ".")


def notify(channel: str, event_type: str, payload: dict, *, on_commit: bool = True) -> None:
    """Publish ``{"type": event_type, "channel": channel, **payload}`` to the channel's subscribers."""
    message = {"type": event_type, "channel": channel, **payload}

    def send():
        layer = get_channel_layer()
        if layer is None:
            return
        try:
            async_to_sync(layer.group_send)(group_name(channel), {"type": "event.message", "message": message})
        except Exception:
            # Live events are best effort: the database row stays the truth and pages re-read it.
            logger.exception("could not publish %s on %s", event_type, channel)

    if on_commit:
        transaction.on_commit(send)
    else:
        send()
