"""gRPC health checking: the standard ``grpc.health.v1.Health`` service (H1-H3).

```python
health = puregrpc.health.add_to_server(server)  # overall status ("") SERVING
health.set("hello.HelloService", puregrpc.health.SERVING)
...
health.enter_graceful_shutdown()  # everything NOT_SERVING, for good
await server.stop(grace=5.0)
```

* ``Check``: the status of a service set with `HealthServicer.set`; ``""`` is the server as a
  whole; an unknown name fails with NOT_FOUND.
* ``Watch``: the current status at once (SERVICE_UNKNOWN for an unknown name, and the call goes
  on), then one message per change. It ends when the client cancels, or with OK when the server
  stops (so `puregrpc.Server.stop` never waits on it; a client then retries elsewhere).
* ``List``: every known service with its status (upstream marks it experimental).

Clients: `HealthStub` (``await HealthStub(channel).Check(HealthCheckRequest(service=""))``).
The messages come from puregrpc's own copy of health.proto (`puregrpc._protos`), which may be
imported beside grpcio's ``grpc_health.v1.health_pb2``; on the wire they are the same.

Call the methods of `HealthServicer` from the event loop's thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import puregrpc
from puregrpc import StatusCode
from puregrpc._protos.grpc.health.v1 import health_grpc
from puregrpc._protos.grpc.health.v1.health_grpc import HealthStub
from puregrpc._protos.grpc.health.v1.health_pb2 import (
    HealthCheckRequest,
    HealthCheckResponse,
    HealthListRequest,
    HealthListResponse,
)

__all__ = [
    "NOT_SERVING",
    "OVERALL",
    "SERVICE_NAME",
    "SERVICE_UNKNOWN",
    "SERVING",
    "UNKNOWN",
    "HealthCheckRequest",
    "HealthCheckResponse",
    "HealthListRequest",
    "HealthListResponse",
    "HealthServicer",
    "HealthStub",
    "ServingStatus",
    "add_to_server",
]

SERVICE_NAME = "grpc.health.v1.Health"
OVERALL = ""
"""The name under which the server as a whole reports its health."""

ServingStatus = HealthCheckResponse.ServingStatus
UNKNOWN = HealthCheckResponse.UNKNOWN
SERVING = HealthCheckResponse.SERVING
NOT_SERVING = HealthCheckResponse.NOT_SERVING
SERVICE_UNKNOWN = HealthCheckResponse.SERVICE_UNKNOWN
"""Sent by Watch for a name that has no status; never a status to `set`."""

CheckContext = puregrpc.ServicerContext[HealthCheckRequest, HealthCheckResponse]
ListContext = puregrpc.ServicerContext[HealthListRequest, HealthListResponse]


class _Watcher:
    """One Watch call: the latest status for it, and whether it should end."""

    __slots__ = ("changed", "ended", "status")

    def __init__(self, status: ServingStatus) -> None:
        self.status = status
        self.ended = False
        self.changed = asyncio.Event()

    def update(self, status: ServingStatus) -> None:
        self.status = status
        self.changed.set()

    def end(self) -> None:
        self.ended = True
        self.changed.set()


class HealthServicer(health_grpc.HealthServicer):
    """The statuses of a server's services, served as ``grpc.health.v1.Health``.

    A new servicer knows one name: ``""`` (`OVERALL`), SERVING.
    """

    def __init__(self) -> None:
        self._statuses: dict[str, ServingStatus] = {OVERALL: SERVING}
        self._watchers: dict[str, set[_Watcher]] = {}
        self._shutting_down = False

    def set(self, service: str, status: ServingStatus) -> None:
        """Set the status of `service` (``""`` for the whole server) and tell its watchers.

        Ignored after `enter_graceful_shutdown`."""
        if status not in (UNKNOWN, SERVING, NOT_SERVING):
            raise ValueError(f"not a status to set: {status!r}")
        if self._shutting_down:
            return
        self._set(service, status)

    def _set(self, service: str, status: ServingStatus) -> None:
        self._statuses[service] = status
        for watcher in self._watchers.get(service, ()):
            watcher.update(status)

    def get(self, service: str) -> ServingStatus | None:
        """The status of `service`, or None when it has none."""
        return self._statuses.get(service)

    def enter_graceful_shutdown(self) -> None:
        """Set every known service NOT_SERVING and ignore later `set` calls."""
        for service in list(self._statuses):
            self._set(service, NOT_SERVING)
        self._shutting_down = True

    def end_watches(self) -> None:
        """End every open Watch call (with OK) once it has sent the latest status."""
        for watchers in self._watchers.values():
            for watcher in watchers:
                watcher.end()

    def _server_stopping(self) -> None:
        self.enter_graceful_shutdown()
        self.end_watches()

    # -- the RPCs
    async def Check(
        self, request: HealthCheckRequest, context: CheckContext
    ) -> HealthCheckResponse:
        status = self._statuses.get(request.service)
        if status is None:
            await context.abort(StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return HealthCheckResponse(status=status)

    async def List(self, request: HealthListRequest, context: ListContext) -> HealthListResponse:
        response = HealthListResponse()
        for service, status in self._statuses.items():
            response.statuses[service].status = status
        return response

    async def Watch(
        self, request: HealthCheckRequest, context: CheckContext
    ) -> AsyncIterator[HealthCheckResponse]:
        service = request.service
        watcher = _Watcher(self._statuses.get(service, SERVICE_UNKNOWN))
        watchers = self._watchers.setdefault(service, set())
        watchers.add(watcher)
        try:
            sent: ServingStatus | None = None
            while True:
                watcher.changed.clear()
                if watcher.status != sent:
                    sent = watcher.status
                    yield HealthCheckResponse(status=sent)
                    continue  # the status may have changed while the message went out
                if watcher.ended:
                    return
                await watcher.changed.wait()
        finally:
            watchers.discard(watcher)
            if not watchers and self._watchers.get(service) is watchers:
                del self._watchers[service]


def add_to_server(
    server: puregrpc.Server, servicer: HealthServicer | None = None
) -> HealthServicer:
    """Serve `servicer` (a new `HealthServicer` by default: overall status SERVING) as
    ``grpc.health.v1.Health`` on `server`, and end its Watch calls when the server stops."""
    servicer = servicer if servicer is not None else HealthServicer()
    health_grpc.add_HealthServicer_to_server(servicer, server)
    server.add_stop_callback(servicer._server_stopping)
    return servicer
