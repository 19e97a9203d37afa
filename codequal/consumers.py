"""The WebSocket endpoint ``/ws/``: authenticate, subscribe to ``kind:id`` channels, receive their events."""

import time

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.authentication import user_for_bearer

from . import realtime

# While subscribed, access is re-checked at most this often, so a removed member stops receiving events promptly.
RECHECK_SECONDS = 5.0


class RealtimeConsumer(AsyncJsonWebsocketConsumer):
    async def connect(self):
        self.user = self.scope.get("user")
        self.subscriptions: dict[str, float] = {}
        await self.accept()
        if self._authenticated():
            await self.send_json({"type": "auth", "ok": True, "user": self.user.get_username()})

    async def disconnect(self, code):
        for channel in list(self.subscriptions):
            await self.channel_layer.group_discard(realtime.group_name(channel), self.channel_name)
        self.subscriptions.clear()

    def _authenticated(self) -> bool:
        return bool(self.user is not None and self.user.is_authenticated and self.user.is_active)

    async def receive_json(self, content, **kwargs):
        if not isinstance(content, dict):
            await self._error("bad_message", "Messages are JSON objects with a 'type'.")
            return
        kind = content.get("type")
        if kind == "auth":
            await self._auth(content.get("token"))
        elif kind == "subscribe":
            await self._subscribe(content.get("channel"))
        elif kind == "unsubscribe":
            await self._unsubscribe(content.get("channel"))
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self._error("bad_message", f"Unknown message type {kind!r}.")

    async def _error(self, code: str, message: str, **extra):
        await self.send_json({"type": "error", "code": code, "message": message, **extra})

    async def _auth(self, token):
        user = await database_sync_to_async(user_for_bearer)(token) if isinstance(token, str) and token else None
        if user is None:
            await self._error("unauthenticated", "Invalid, expired or revoked token.")
            await self.close(code=4401)
            return
        self.user = user
        await self.send_json({"type": "auth", "ok": True, "user": user.get_username()})

    async def _subscribe(self, channel):
        if not self._authenticated():
            await self._error("unauthenticated", "Send {'type': 'auth', 'token': ...} first.")
            return
        allowed = isinstance(channel, str) and await database_sync_to_async(realtime.user_may_follow)(
            self.user, channel
        )
        if not allowed:
            # The same answer for "does not exist" and "not yours": nothing leaks across tenants.
            await self._error("not_found", "No such channel.", channel=channel)
            return
        await self.channel_layer.group_add(realtime.group_name(channel), self.channel_name)
        self.subscriptions[channel] = time.monotonic()
        await self.send_json({"type": "subscribed", "channel": channel})

    async def _unsubscribe(self, channel):
        if channel in self.subscriptions:
            await self.channel_layer.group_discard(realtime.group_name(channel), self.channel_name)
            del self.subscriptions[channel]
        await self.send_json({"type": "unsubscribed", "channel": channel})

    async def event_message(self, event):
        message = event["message"]
        channel = message.get("channel")
        checked = self.subscriptions.get(channel)
        if checked is None:
            return
        if time.monotonic() - checked > RECHECK_SECONDS:
            if not await database_sync_to_async(realtime.user_may_follow)(self.user, channel):
                await self._unsubscribe(channel)
                await self._error("forbidden", "Access to this channel has ended.", channel=channel)
                return
            self.subscriptions[channel] = time.monotonic()
        await self.send_json(message)
