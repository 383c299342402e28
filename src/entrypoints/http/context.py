"""Per-request access to the process's container, and the caller's identity."""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.params import SkipValidation
from litestar.types import Scope

from entrypoints.bootstrap import Container
from wallet_core.errors import DomainError, NotAuthenticated, NotFound
from wallet_core.services.context import Actor

#: Injected objects are ours already: Litestar must not re-validate them on every request.
ActorDep = SkipValidation[Actor]
ContainerDep = SkipValidation[Container]

_ACTOR = "actor"
_ACTOR_ERROR = "actor_error"


def container_of(scope: Scope) -> Container:
    container: Container = scope["litestar_app"].state.container
    return container


def bearer_token(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


def peek_actor(scope: Scope) -> Actor | None:
    """The caller, if the request carries a valid access token (decoded once per request)."""
    state = scope.setdefault("state", {})
    if _ACTOR in state:
        actor: Actor | None = state[_ACTOR]
        return actor
    token = bearer_token(scope)
    actor = None
    if token is not None:
        try:
            actor = container_of(scope).core.auth.authenticate(token)
        except DomainError as exc:
            state[_ACTOR_ERROR] = exc
    state[_ACTOR] = actor
    return actor


async def authenticated_actor(scope: Scope) -> Actor:
    """The caller: a valid access token of a session that has not ended, else 401."""
    actor = peek_actor(scope)
    if actor is None:
        error = scope["state"].get(_ACTOR_ERROR)
        raise error if isinstance(error, DomainError) else NotAuthenticated()
    await container_of(scope).core.auth.confirm(actor)
    return actor


async def provide_actor(request: Request[Any, Any, Any], container: ContainerDep) -> Actor:
    """Dependency for every protected route.

    It takes ``container`` only to come after it: Litestar resolves independent dependencies
    of one handler concurrently, in a task group per request, which costs more than both."""
    return await authenticated_actor(request.scope)


async def staff_or_not_found(connection: ASGIConnection[Any, Any, Any, Any], _: object) -> None:
    """Guard for staff-only resources that others must not learn about: to anyone but staff
    they do not exist (404), whatever the id or the body (guards run before the body is read).
    The use case checks again."""
    if not (await authenticated_actor(connection.scope)).is_staff:
        raise NotFound("No such user.")


async def provide_container(request: Request[Any, Any, Any]) -> Container:
    return container_of(request.scope)
