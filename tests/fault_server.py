"""A small OpenAI-compatible chat server (streaming SSE) on 127.0.0.1 that injects faults per request.

`plan[model]` is a list of behaviours used one per request (the last one repeats):
ok, 429 (Retry-After), 500, 503, reset (connection dropped mid-stream), stall (stops sending),
malformed (a broken SSE chunk), empty (no content), 404 (model decommissioned), 401echo (an auth
error that echoes the API key back, as some providers do), 401leak (an auth error that echoes it many
times over, cut, split, upper-cased and base64-encoded), leak (a reply that holds the key in those forms,
split across chunks). Every request body is kept in `bodies`.
"""

from __future__ import annotations

import asyncio
import base64
import json

REPLY = "Hello from the fault server, all good here."


class FaultServer:
    def __init__(self) -> None:
        self.plan: dict[str, list[str]] = {}
        self.requests: list[tuple[str, str]] = []
        self.bodies: list[bytes] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self._stalled: list[asyncio.StreamWriter] = []

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def __aenter__(self) -> "FaultServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        for w in self._stalled:
            w.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    def _next(self, model: str) -> str:
        plan = self.plan.get(model) or [model]
        return plan.pop(0) if len(plan) > 1 else plan[0]

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines[1:] if l)}
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        self.bodies.append(body)
        try:
            model = json.loads(body).get("model", "ok")
        except ValueError:
            model = "ok"
        behaviour = self._next(model)
        self.requests.append((model, behaviour))
        name = "_" + behaviour.replace("401echo", "401_echo").replace("401leak", "401_leak")
        await getattr(self, name, self._ok)(writer, headers, model)

    # -- behaviours --------------------------------------------------------------
    @staticmethod
    def _json(writer, status: str, payload: dict, extra: str = "") -> None:
        data = json.dumps(payload).encode()
        writer.write(f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {len(data)}\r\n"
                     f"{extra}Connection: close\r\n\r\n".encode() + data)

    @staticmethod
    def _sse_head(writer) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
                     b"Connection: close\r\n\r\n")

    @staticmethod
    def _chunk(text: str, model: str, finish: str | None = None) -> bytes:
        delta = {"content": text} if text else {}
        payload = {"id": "x", "object": "chat.completion.chunk", "created": 0, "model": model,
                   "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}
        return f"data: {json.dumps(payload)}\n\n".encode()

    async def _ok(self, writer, headers, model) -> None:
        self._sse_head(writer)
        for i, word in enumerate(REPLY.split(" ")):
            writer.write(self._chunk(("" if i == 0 else " ") + word, model))
            await writer.drain()
        writer.write(self._chunk("", model, "stop") + b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    async def _429(self, writer, headers, model) -> None:
        self._json(writer, "429 Too Many Requests", {"error": {"message": "Rate limit reached", "type": "rate_limit"}},
                   "Retry-After: 0.05\r\n")
        await writer.drain()
        writer.close()

    async def _500(self, writer, headers, model) -> None:
        self._json(writer, "500 Internal Server Error", {"error": {"message": "internal error", "type": "server"}})
        await writer.drain()
        writer.close()

    async def _503(self, writer, headers, model) -> None:
        self._json(writer, "503 Service Unavailable", {"error": {"message": f"{model} is over capacity",
                                                                 "type": "server"}})
        await writer.drain()
        writer.close()

    async def _404(self, writer, headers, model) -> None:
        self._json(writer, "404 Not Found", {"error": {
            "message": f"The model `{model}` has been decommissioned and is no longer supported.",
            "type": "invalid_request_error", "code": "model_decommissioned"}})
        await writer.drain()
        writer.close()

    async def _401_echo(self, writer, headers, model) -> None:
        key = headers.get("authorization", "").removeprefix("Bearer ")
        self._json(writer, "401 Unauthorized", {"error": {"message": f"Incorrect API key provided: {key}",
                                                          "type": "invalid_request_error"}})
        await writer.drain()
        writer.close()

    @staticmethod
    def leaked(key: str) -> list[str]:
        """The key as a careless provider or model might give it back."""
        half = len(key) // 2
        return [key, key[:27], f"{key[:half]} ... {key[half:]}", key.upper(), key.lower(),
                base64.b64encode(key.encode()).decode(), base64.b64encode(f"Bearer {key}".encode()).decode()]

    async def _401_leak(self, writer, headers, model) -> None:
        key = headers.get("authorization", "").removeprefix("Bearer ")
        text = "Incorrect API key provided: " + " | ".join(self.leaked(key) * 6)  # a copy of it at any cut
        self._json(writer, "401 Unauthorized", {"error": {"message": text, "type": "invalid_request_error"}})
        await writer.drain()
        writer.close()

    async def _leak(self, writer, headers, model) -> None:
        key = headers.get("authorization", "").removeprefix("Bearer ")
        self._sse_head(writer)
        text = "Sure, here is my config: " + " and ".join(self.leaked(key)) + ". Anything else?"
        for i in range(0, len(text), 5):  # small chunks: a key never arrives in one piece
            writer.write(self._chunk(text[i:i + 5], model))
            await writer.drain()
        writer.write(self._chunk("", model, "stop") + b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    async def _reset(self, writer, headers, model) -> None:
        self._sse_head(writer)
        writer.write(self._chunk("Half a", model) + self._chunk(" sentence", model))
        await writer.drain()
        writer.transport.abort()  # connection reset mid-stream

    async def _stall(self, writer, headers, model) -> None:
        self._sse_head(writer)
        writer.write(self._chunk("Thinking", model))
        await writer.drain()
        self._stalled.append(writer)  # never finishes; closed when the server stops

    async def _malformed(self, writer, headers, model) -> None:
        self._sse_head(writer)
        writer.write(self._chunk("Fine", model) + b"data: {this is not json\n\n" + self._chunk(" then", model))
        writer.write(b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()

    async def _empty(self, writer, headers, model) -> None:
        self._sse_head(writer)
        writer.write(self._chunk("", model, "stop") + b"data: [DONE]\n\n")
        await writer.drain()
        writer.close()
