"""``/users``: the caller's profile, and the staff list."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, patch
from litestar.params import FromQuery, JSONBody
from msgspec import UNSET

from entrypoints.http.context import ActorDep, ContainerDep
from entrypoints.http.pagination import links
from entrypoints.http.presenters import user_body
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import ProfileUpdate, UserPage, UserResponse
from wallet_core.queries import (
    DEFAULT_USER_ORDERING,
    USER_ORDERINGS,
    UserFilter,
    UserQuery,
    page_request,
    parse_ordering,
)
from wallet_core.services.auth import ProfileChanges


class UsersController(Controller):
    path = "/users"
    tags = ["users"]

    @get("/me", summary="Your profile", operation_id="getMe", responses=responses_for(401, 429))
    async def me(self, actor: ActorDep, container: ContainerDep) -> UserResponse:
        return user_body(await container.core.auth.me(actor))

    @patch(
        "/me",
        summary="Change your names, date of birth or password",
        description="A new `password` needs the right `current_password` (else 400); a weak "
        "one is 422 `weak_password`. A password change revokes all your refresh tokens.",
        operation_id="updateMe",
        responses=responses_for(400, 401, 413, 422, 429),
    )
    async def update_me(
        self, data: JSONBody[ProfileUpdate], actor: ActorDep, container: ContainerDep
    ) -> UserResponse:
        changes = ProfileChanges(
            first_name=None if data.first_name is UNSET else data.first_name,
            last_name=None if data.last_name is UNSET else data.last_name,
            date_of_birth=None if data.date_of_birth in (UNSET, None) else data.date_of_birth,  # type: ignore[arg-type]
            clear_date_of_birth=data.date_of_birth is None,
            password=None if data.password is UNSET else data.password,
            current_password=None if data.current_password is UNSET else data.current_password,
        )
        return user_body(await container.core.auth.update_me(actor, changes))

    @get(
        "/",
        summary="All users (staff only)",
        operation_id="listUsers",
        responses=responses_for(400, 401, 403, 429),
    )
    async def list_users(
        self,
        request: Request[Any, Any, Any],
        actor: ActorDep,
        container: ContainerDep,
        email: FromQuery[str | None] = None,
        first_name: FromQuery[str | None] = None,
        last_name: FromQuery[str | None] = None,
        is_staff: FromQuery[bool | None] = None,
        is_active: FromQuery[bool | None] = None,
        ordering: FromQuery[str | None] = None,
        page: FromQuery[int | None] = None,
        page_size: FromQuery[int | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> UserPage:
        order = parse_ordering(ordering, USER_ORDERINGS, DEFAULT_USER_ORDERING)
        query = UserQuery(
            UserFilter(email, first_name, last_name, is_staff, is_active),
            order,
            page_request(page=page, page_size=page_size, cursor=cursor, ordering=order),
        )
        result = await container.core.auth.list_users(actor, query)
        return UserPage(
            count=result.count,
            results=[user_body(u) for u in result.items],
            **links(request, result),  # type: ignore[arg-type]
        )
