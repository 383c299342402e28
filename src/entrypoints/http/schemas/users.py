"""Auth and user bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, ClassVar, Literal
from uuid import UUID

import msgspec
from msgspec import UNSET, Meta, UnsetType

from entrypoints.http.schema_marks import Exclusive
from entrypoints.http.schemas.fields import (
    NO_NUL,
    CurrencyCode,
    Email,
    Name,
    NewPassword,
    Password,
    Phone,
    Strict,
    Username,
)


class RegisterRequest(Strict):
    email: Email
    username: Username
    password: NewPassword
    phone_number: Phone
    first_name: Name = ""
    last_name: Name = ""
    date_of_birth: date | None = None
    currency: CurrencyCode | None = None


Login = Annotated[str, Meta(min_length=1, max_length=254, pattern=NO_NUL)]


class TokenRequest(Strict):
    """Exactly one of ``email`` and ``username``, with the password."""

    __schema_extra__: ClassVar[Exclusive] = Exclusive(
        one_of={"EmailLogin": "email", "UsernameLogin": "username"}
    )

    password: Password
    email: Login | UnsetType = UNSET
    username: Login | UnsetType = UNSET


class RefreshRequest(Strict):
    refresh_token: Annotated[str, Meta(min_length=1, max_length=512)]


class ProfileUpdate(Strict):
    """A new ``password`` needs ``current_password``."""

    __schema_extra__: ClassVar[Exclusive] = Exclusive(requires={"password": ("current_password",)})

    first_name: Name | UnsetType = UNSET
    last_name: Name | UnsetType = UNSET
    date_of_birth: date | UnsetType | None = UNSET
    password: NewPassword | UnsetType = UNSET
    current_password: Password | UnsetType = UNSET


class TokenPairResponse(msgspec.Struct):
    access_token: str
    refresh_token: str
    expires_in: int
    token_type: Literal["bearer"] = "bearer"


class UserResponse(msgspec.Struct):
    id: UUID
    email: str
    username: str
    phone_number: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    is_staff: bool
    created_at: datetime


class StaffUserResponse(UserResponse):
    """A user's profile as staff see it."""

    is_active: bool


class AccessUpdate(Strict):
    """Staff only. Absent fields stay as they are; deactivating a user or taking their staff
    role ends all their sessions."""

    is_active: bool | UnsetType = UNSET
    is_staff: bool | UnsetType = UNSET
