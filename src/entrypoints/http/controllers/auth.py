"""``/auth``: register, token, refresh, logout."""

from __future__ import annotations

from litestar import Controller, post
from litestar.di import Provide
from litestar.openapi.spec import Link
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from entrypoints.http.context import ActorDep, ContainerDep, provide_actor
from entrypoints.http.openapi import BEARER, linked
from entrypoints.http.presenters import user_body, wallet_body
from entrypoints.http.problems import responses_for
from entrypoints.http.schemas import (
    RefreshRequest,
    RegisterRequest,
    RegisterResponse,
    TokenPairResponse,
    TokenRequest,
)
from wallet_core.errors import FieldError, ValidationFailed
from wallet_core.services.auth import Registration, TokenPair


def _pair(pair: TokenPair) -> TokenPairResponse:
    return TokenPairResponse(pair.access_token, pair.refresh_token, pair.expires_in)


#: A new pair's refresh token rotates into the next pair.
_TO_REFRESH = linked(
    200,
    {
        "RefreshTokens": Link(
            operation_id="refreshToken",
            request_body={"refresh_token": "$response.body#/refresh_token"},
            description="Rotate this pair's refresh token.",
        )
    },
)


class AuthController(Controller):
    """Public (no security requirement) except logout, which needs the caller's access token."""

    path = "/auth"
    tags = ["auth"]

    @post(
        "/register",
        status_code=HTTP_201_CREATED,
        summary="Create a user and their first wallet",
        description="409 `already_exists` when the email, username or phone number is taken; "
        "422 `weak_password` or `unsupported_currency`.",
        operation_id="register",
        opt={"rate_scope": "registration"},
        responses=responses_for(400, 409, 413, 422, 429),
        operation_class=linked(
            201,
            {
                "LogIn": Link(
                    operation_id="logIn",
                    request_body={
                        "email": "$request.body#/email",
                        "password": "$request.body#/password",
                    },
                    description="Log in as the new user.",
                )
            },
        ),
    )
    async def register(
        self, data: JSONBody[RegisterRequest], container: ContainerDep
    ) -> RegisterResponse:
        user, wallet = await container.core.auth.register(
            Registration(
                email=data.email,
                username=data.username,
                password=data.password,
                phone_number=data.phone_number,
                first_name=data.first_name,
                last_name=data.last_name,
                date_of_birth=data.date_of_birth,
                currency=data.currency,
            )
        )
        currencies = container.core.ctx.currencies
        return RegisterResponse(user=user_body(user), wallet=wallet_body(wallet, currencies))

    @post(
        "/token",
        status_code=200,
        summary="Log in with email (or username) and password",
        operation_id="logIn",
        responses=responses_for(400, 401, 413, 429),
        operation_class=_TO_REFRESH,
    )
    async def token(
        self, data: JSONBody[TokenRequest], container: ContainerDep
    ) -> TokenPairResponse:
        given = [login for login in (data.email, data.username) if isinstance(login, str)]
        if len(given) != 1:
            raise ValidationFailed(
                "Give either email or username, and password.",
                [FieldError("email", "give email or username, not both or neither")],
            )
        (login,) = given
        return _pair(await container.core.auth.login(login, data.password))

    @post(
        "/token/refresh",
        status_code=200,
        summary="Rotate a refresh token for a new pair",
        description="The old refresh token is dead afterwards; presenting it again revokes its "
        "whole family (401 `token_revoked`).",
        operation_id="refreshToken",
        responses=responses_for(400, 401, 413, 429),
        operation_class=_TO_REFRESH,
    )
    async def refresh(
        self, data: JSONBody[RefreshRequest], container: ContainerDep
    ) -> TokenPairResponse:
        return _pair(await container.core.auth.refresh(data.refresh_token))

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke the refresh token's family",
        description="Unknown tokens, and other users' tokens, change nothing (still 204).",
        operation_id="logOut",
        dependencies={"actor": Provide(provide_actor)},
        security=BEARER,
        responses=responses_for(400, 401, 413, 429),
    )
    async def logout(
        self, data: JSONBody[RefreshRequest], actor: ActorDep, container: ContainerDep
    ) -> None:
        await container.core.auth.logout(actor, data.refresh_token)
