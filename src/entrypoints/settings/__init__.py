"""One validated Settings object, read from the environment (and ``.env``) once, at start.

Nothing reads the environment at import time: ``load_settings()`` is called by the CLI or the ASGI
factory and the result is passed explicitly to everything that needs it. A bad value fails fast
with a message naming the variable."""

from entrypoints.settings.loading import (
    KNOWN_VARIABLES,
    load_settings,
)
from entrypoints.settings.model import (
    Settings,
    read_env_file,
)
from entrypoints.settings.values import (
    DEFAULT_CURRENCIES,
    DEFAULT_DATABASE_URL,
    Environment,
    Network,
    RateLimit,
    SettingsError,
)

__all__ = [
    "DEFAULT_CURRENCIES",
    "DEFAULT_DATABASE_URL",
    "KNOWN_VARIABLES",
    "Environment",
    "Network",
    "RateLimit",
    "Settings",
    "SettingsError",
    "load_settings",
    "read_env_file",
]
