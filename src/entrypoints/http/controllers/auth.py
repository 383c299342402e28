"""``/auth``: register, token, refresh, logout."""

from __future__ import annotations

from litestar import Controller, Response, post
from litestar.di import Provide
from litestar.params import JSONBody
from litestar.status_codes import HTTP_201_CREATED, HTTP_204_NO_CONTENT

from entrypoints.http.context import ActorDep, ContainerDep, provide_actor
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


class AuthController(Controller):
    path = "/auth"
    tags = ["auth"]
    security = []

    @post(
        "/register",
        status_code=HTTP_201_CREATED,
        summary="Create a user and their first wallet",
        opt={"rate_scope": "registration"},
        responses=responses_for(400, 409, 422, 429),
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
        responses=responses_for(400, 401, 429),
    )
    async def token(
        self, data: JSONBody[TokenRequest], container: ContainerDep
    ) -> TokenPairResponse:
        login = data.email if data.email is not None else data.username
        if login is None:
            raise ValidationFailed(
                "Give email (or username) and password.",
                [FieldError("email", "required (or username)")],
            )
        return _pair(await container.core.auth.login(login, data.password))

    @post(
        "/token/refresh",
        status_code=200,
        summary="Rotate a refresh token for a new pair",
        responses=responses_for(400, 401, 429),
    )
    async def refresh(
        self, data: JSONBody[RefreshRequest], container: ContainerDep
    ) -> TokenPairResponse:
        return _pair(await container.core.auth.refresh(data.refresh_token))

    @post(
        "/logout",
        status_code=HTTP_204_NO_CONTENT,
        summary="Revoke the refresh token's family",
        dependencies={"actor": Provide(provide_actor)},
        security=[{"BearerToken": []}],
        responses=responses_for(400, 401, 429),
    )
    async def logout(
        self, data: JSONBody[RefreshRequest], actor: ActorDep, container: ContainerDep
    ) -> Response[None]:
        await container.core.auth.logout(actor, data.refresh_token)
        return Response(content=None, status_code=HTTP_204_NO_CONTENT)
