"""The ASGI factory servers import: settings are read here, when a worker starts."""

from __future__ import annotations

from litestar import Litestar

from entrypoints.dev_secrets import DEV_SECRETS_FILE
from entrypoints.http.app import create_app
from entrypoints.settings import load_settings


def create() -> Litestar:
    return create_app(load_settings(dev_secrets=DEV_SECRETS_FILE))
