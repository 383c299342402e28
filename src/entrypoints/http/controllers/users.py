"""``/users``: the caller's profile; for staff, the list and anyone's account."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from litestar import Controller, Request, get, patch
from litestar.params import FromPath, FromQuery, JSONBody
from msgspec import UNSET

from entrypoints.http.context import ActorDep, ContainerDep, staff_or_not_found
from entrypoints.http.pagination import links
from entrypoints.http.presenters import staff_user_body, user_body
from entrypoints.http.problems import responses_for
from entrypoints.http.query_params import Cursor, PageNumber, PageSize, UserOrdering
from entrypoints.http.schemas import (
    AccessUpdate,
    ProfileUpdate,
    StaffUserResponse,
    UserPage,
    UserResponse,
)
from wallet_core.queries import (
    DEFAULT_USER_ORDERING,
    USER_ORDERINGS,
    UserFilter,
    UserQuery,
    page_request,
    parse_ordering,
)
from wallet_core.services.auth import ProfileChanges
from wallet_core.services.users import AccessChanges


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
        "one is 422 `weak_password`. A password change ends all your sessions, this one "
        "included: every access token issued before it is refused (401 `token_revoked`) and "
        "every refresh token revoked; sign in again with the new password.",
        operation_id="updateMe",
        responses=responses_for(400, 401, 413, 422, 429),
    )
    async def update_me(
        self, data: JSONBody[ProfileUpdate], actor: ActorDep, container: ContainerDep
    ) -> UserResponse:
        changes = ProfileChanges(
            first_name=None if data.first_name is UNSET else data.first_name,
            last_name=None if data.last_name is UNSET else data.last_name,
            date_of_birth=None if data.date_of_birth in (UNSET, None) else data.date_of_birth,
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
        ordering: UserOrdering = None,
        page: PageNumber = None,
        page_size: PageSize = None,
        cursor: Cursor = None,
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
            **links(request, result),
        )

    @get(
        "/{user_id:uuid}",
        summary="A user's account (staff only)",
        description="The profile plus `is_active`. To anyone but staff every id answers 404 "
        "`not_found`, as if no such user existed.",
        operation_id="getUser",
        guards=[staff_or_not_found],
        responses=responses_for(400, 401, 404, 429),
    )
    async def get_user(
        self, user_id: FromPath[UUID], actor: ActorDep, container: ContainerDep
    ) -> StaffUserResponse:
        return staff_user_body(await container.core.users.get(actor, user_id))

    @patch(
        "/{user_id:uuid}",
        summary="Activate or deactivate a user, grant or take the staff role (staff only)",
        description="Absent fields are left alone. Deactivating a user, or taking their staff "
        "role, ends all their sessions at once: their access tokens are refused (401 "
        "`token_revoked`) by every API process within a second and all their refresh tokens "
        "are revoked. Reactivating does not revive them. Staff cannot deactivate themselves or "
        "drop their own staff role (403 `forbidden`). To anyone but staff every id answers 404.",
        operation_id="updateUser",
        guards=[staff_or_not_found],
        responses=responses_for(400, 401, 403, 404, 413, 429),
    )
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[AccessUpdate],
        actor: ActorDep,
        container: ContainerDep,
    ) -> StaffUserResponse:
        changes = AccessChanges(
            is_active=None if data.is_active is UNSET else data.is_active,
            is_staff=None if data.is_staff is UNSET else data.is_staff,
        )
        return staff_user_body(await container.core.users.update_access(actor, user_id, changes))
