"""The WebSocket endpoint /ws/ end to end through the real ASGI application (middleware, consumer, channel layer).

Consumers reach the database with database_sync_to_async, so these tests use real transactions; the async bodies
run on an event loop of their own through async_to_sync (no pytest-asyncio needed).
"""

import functools
import os
import subprocess
import sys

import pytest
from asgiref.sync import async_to_sync, sync_to_async
from channels.layers import get_channel_layer
from channels.testing import WebsocketCommunicator
from django.conf import settings
from django.test import Client
from rest_framework_simplejwt.tokens import AccessToken

from accounts import services
from accounts.models import Membership
from codequal.asgi import application
from codequal.realtime import notify
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 3  # seconds to wait for a message that should come
# The consumer's disconnect handler (leaving its groups) takes milliseconds; after it, channels-redis may hold the
# consumer's pending receive for its 5 s BRPOP timeout, so the test stops waiting and cancels it.
CLOSE_TIMEOUT = 0.3


def async_test(body):
    """Run an async test body to completion on its own event loop."""

    @functools.wraps(body)
    def wrapper(*args, **kwargs):
        return async_to_sync(body)(*args, **kwargs)

    return wrapper


async def open_socket(*headers: tuple[bytes, bytes]) -> WebsocketCommunicator:
    socket = WebsocketCommunicator(application, "/ws/", headers=list(headers))
    connected, code = await socket.connect(timeout=TIMEOUT)
    assert connected, f"handshake refused with {code}"
    return socket


async def authenticated_socket(user) -> WebsocketCommunicator:
    """A socket signed in with a fresh API token of ``user`` (the first message confirms it)."""
    _, key = await sync_to_async(services.api_token_create)(user=user, name="ws")
    socket = await open_socket((b"authorization", f"Bearer {key}".encode()))
    assert await socket.receive_json_from(TIMEOUT) == {"type": "auth", "ok": True, "user": user.get_username()}
    return socket


async def subscribe(socket: WebsocketCommunicator, channel: str) -> dict:
    await socket.send_json_to({"type": "subscribe", "channel": channel})
    return await socket.receive_json_from(TIMEOUT)


async def subscribed(socket: WebsocketCommunicator, channel: str) -> None:
    assert await subscribe(socket, channel) == {"type": "subscribed", "channel": channel}


async def publish(channel: str, event_type: str, **payload) -> None:
    # notify is synchronous (workers and services call it); run it off the event loop as they would.
    await sync_to_async(notify)(channel, event_type, payload, on_commit=False)


async def close(*sockets: WebsocketCommunicator) -> None:
    for socket in sockets:
        await socket.disconnect(timeout=CLOSE_TIMEOUT)


def project_channel(project) -> str:
    return f"project:{project.pk}"


@async_test
async def test_anonymous_connection_cannot_subscribe(world):
    socket = await open_socket()

    assert await socket.receive_nothing(0.1)  # no "auth" greeting without credentials
    reply = await subscribe(socket, project_channel(world.a.project))

    assert reply["type"] == "error"
    assert reply["code"] == "unauthenticated"
    await close(socket)


@async_test
async def test_in_band_auth_with_api_token(world):
    viewer = world.a.user("viewer")
    _, key = await sync_to_async(services.api_token_create)(user=viewer, name="ws")
    socket = await open_socket()

    await socket.send_json_to({"type": "auth", "token": key})

    assert await socket.receive_json_from(TIMEOUT) == {"type": "auth", "ok": True, "user": "a-viewer"}
    assert await subscribe(socket, project_channel(world.a.project)) == {
        "type": "subscribed",
        "channel": project_channel(world.a.project),
    }
    await close(socket)


@async_test
async def test_in_band_auth_with_jwt(world):
    token = str(AccessToken.for_user(world.a.user("evaluator")))
    socket = await open_socket()

    await socket.send_json_to({"type": "auth", "token": token})

    assert await socket.receive_json_from(TIMEOUT) == {"type": "auth", "ok": True, "user": "a-evaluator"}
    assert (await subscribe(socket, project_channel(world.a.project)))["type"] == "subscribed"
    await close(socket)


@pytest.mark.parametrize("token", ["cqb_not-a-real-token", "not.a.jwt", "", None, 42])
@async_test
async def test_bad_in_band_token_closes_with_4401(world, token):
    socket = await open_socket()

    await socket.send_json_to({"type": "auth", "token": token})

    reply = await socket.receive_json_from(TIMEOUT)
    assert (reply["type"], reply["code"]) == ("error", "unauthenticated")
    assert await socket.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4401}
    await close(socket)


@async_test
async def test_revoked_api_token_closes_with_4401(world):
    owner = world.a.user("owner")
    token, key = await sync_to_async(services.api_token_create)(user=owner, name="ws")
    await sync_to_async(services.api_token_revoke)(actor=owner, token=token)
    socket = await open_socket()

    await socket.send_json_to({"type": "auth", "token": key})

    assert (await socket.receive_json_from(TIMEOUT))["code"] == "unauthenticated"
    assert await socket.receive_output(TIMEOUT) == {"type": "websocket.close", "code": 4401}
    await close(socket)


@pytest.mark.parametrize("kind", ["api_token", "jwt"])
@async_test
async def test_authorization_header_on_handshake(world, kind):
    user = world.a.user("curator")
    if kind == "api_token":
        _, token = await sync_to_async(services.api_token_create)(user=user, name="ws")
    else:
        token = str(AccessToken.for_user(user))

    socket = await open_socket((b"authorization", f"Bearer {token}".encode()))

    assert await socket.receive_json_from(TIMEOUT) == {"type": "auth", "ok": True, "user": "a-curator"}
    assert (await subscribe(socket, project_channel(world.a.project)))["type"] == "subscribed"
    await close(socket)


@async_test
async def test_bad_authorization_header_leaves_connection_anonymous(world):
    socket = await open_socket((b"authorization", b"Bearer cqb_forged"))

    assert await socket.receive_nothing(0.1)
    assert (await subscribe(socket, project_channel(world.a.project)))["code"] == "unauthenticated"
    await close(socket)


@async_test
async def test_session_cookie_auth(world):
    client = Client()
    assert await sync_to_async(client.login)(username="a-viewer", password=PASSWORD)
    cookie = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"

    socket = await open_socket((b"cookie", cookie.encode()), (b"origin", b"http://localhost:8000"))

    assert await socket.receive_json_from(TIMEOUT) == {"type": "auth", "ok": True, "user": "a-viewer"}
    assert (await subscribe(socket, project_channel(world.a.project)))["type"] == "subscribed"
    await close(socket)


@async_test
async def test_subscriber_receives_notified_events(world):
    channel = project_channel(world.a.project)
    socket = await authenticated_socket(world.a.user("viewer"))
    await subscribed(socket, channel)

    await publish(channel, "run", run=7, status="finished")

    assert await socket.receive_json_from(TIMEOUT) == {
        "type": "run",
        "channel": channel,
        "run": 7,
        "status": "finished",
    }
    await close(socket)


@async_test
async def test_events_stay_in_their_channel(world):
    mine = await authenticated_socket(world.a.user("viewer"))
    theirs = await authenticated_socket(world.b.user("viewer"))
    await subscribed(mine, project_channel(world.a.project))
    await subscribed(theirs, project_channel(world.b.project))

    await publish(project_channel(world.b.project), "run", run=1)

    assert (await theirs.receive_json_from(TIMEOUT))["run"] == 1
    assert await mine.receive_nothing(0.2)
    await close(mine, theirs)


@async_test
async def test_unsubscribe_stops_events(world):
    channel = project_channel(world.a.project)
    socket = await authenticated_socket(world.a.user("viewer"))
    await subscribed(socket, channel)

    await socket.send_json_to({"type": "unsubscribe", "channel": channel})
    assert await socket.receive_json_from(TIMEOUT) == {"type": "unsubscribed", "channel": channel}
    await publish(channel, "run", run=2)

    assert await socket.receive_nothing(0.2)
    await socket.send_json_to({"type": "ping"})
    assert await socket.receive_json_from(TIMEOUT) == {"type": "pong"}
    await close(socket)


@pytest.mark.parametrize("which", ["other_tenant", "missing", "malformed", "unknown_kind"])
@async_test
async def test_subscribe_outside_tenant_is_not_found(world, which):
    channel = {
        "other_tenant": project_channel(world.b.project),
        "missing": "project:999999999",
        "malformed": "project:abc",
        "unknown_kind": f"suite:{world.a.project.pk}",
    }[which]
    socket = await authenticated_socket(world.a.user("owner"))

    reply = await subscribe(socket, channel)
    await publish(project_channel(world.b.project), "run", run=3)

    # The same answer whether the channel is another tenant's or does not exist: nothing leaks.
    assert reply == {"type": "error", "code": "not_found", "message": "No such channel.", "channel": channel}
    assert await socket.receive_nothing(0.2)
    await close(socket)


@pytest.mark.parametrize("origin", [b"http://evil.example", b"https://localhost.evil.example", b"null"])
@async_test
async def test_foreign_origin_is_refused_at_handshake(world, origin):
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", origin)])

    connected, code = await socket.connect(timeout=TIMEOUT)

    assert not connected
    assert code == 1000  # closed before accept: browsers report a failed handshake
    await close(socket)


@pytest.mark.parametrize("origin", [None, b"http://localhost:8000", b"http://127.0.0.1"])
@async_test
async def test_own_or_missing_origin_is_accepted(world, origin):
    socket = WebsocketCommunicator(application, "/ws/", headers=[(b"origin", origin)] if origin else [])

    connected, _ = await socket.connect(timeout=TIMEOUT)

    assert connected
    await close(socket)


@async_test
async def test_membership_change_is_published_after_commit(world):
    channel = project_channel(world.a.project)
    socket = await authenticated_socket(world.a.user("admin"))
    await subscribed(socket, channel)

    await sync_to_async(services.membership_create)(
        actor=world.a.user("owner"), project=world.a.project, user=world.outsider, role="viewer"
    )

    assert await socket.receive_json_from(TIMEOUT) == {
        "type": "membership",
        "channel": channel,
        "user": "outsider",
        "role": "viewer",
    }
    await close(socket)


@async_test
async def test_removed_member_stops_receiving_events(world, monkeypatch):
    monkeypatch.setattr("codequal.consumers.RECHECK_SECONDS", 0)
    channel = project_channel(world.a.project)
    removed = await authenticated_socket(world.a.user("viewer"))
    staying = await authenticated_socket(world.a.user("evaluator"))
    await subscribed(removed, channel)
    await subscribed(staying, channel)
    await publish(channel, "run", run=4)
    assert (await removed.receive_json_from(TIMEOUT))["run"] == 4
    assert (await staying.receive_json_from(TIMEOUT))["run"] == 4

    membership = await sync_to_async(Membership.objects.get)(project=world.a.project, user=world.a.user("viewer"))
    await sync_to_async(services.membership_delete)(actor=world.a.user("owner"), membership=membership)

    # The removal's own event is the first one the removed member's socket re-checks: access has ended.
    assert await removed.receive_json_from(TIMEOUT) == {"type": "unsubscribed", "channel": channel}
    assert await removed.receive_json_from(TIMEOUT) == {
        "type": "error",
        "code": "forbidden",
        "message": "Access to this channel has ended.",
        "channel": channel,
    }
    assert (await staying.receive_json_from(TIMEOUT))["user"] == "a-viewer"
    await publish(channel, "run", run=5, secret="only for members")
    assert (await staying.receive_json_from(TIMEOUT))["run"] == 5
    assert await removed.receive_nothing(0.2)
    # Subscribing again is refused like any foreign channel.
    assert (await subscribe(removed, channel))["code"] == "not_found"
    await close(removed, staying)


@pytest.mark.redis
@async_test
async def test_event_published_by_another_process_arrives_over_redis(world):
    """A worker process publishes through Redis; the web process delivers it to the subscriber."""
    assert type(get_channel_layer()).__module__ == "channels_redis.core"
    channel = project_channel(world.a.project)
    socket = await authenticated_socket(world.a.user("viewer"))
    await subscribed(socket, channel)
    script = (
        "import django; django.setup()\n"
        "from codequal.realtime import notify\n"
        f"notify({channel!r}, 'run', {{'run': 6}}, on_commit=False)\n"
    )

    await sync_to_async(subprocess.run)(
        [sys.executable, "-c", script],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "codequal.settings", "REDIS_URL": settings.REDIS_URL},
        check=True,
        timeout=60,
    )

    assert await socket.receive_json_from(TIMEOUT) == {"type": "run", "channel": channel, "run": 6}
    await close(socket)
