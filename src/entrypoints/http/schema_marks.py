"""Marks that request Structs carry for the OpenAPI document (read by ``openapi.py``).

They say what msgspec's field constraints cannot: which fields go together, and which values
come from configuration. msgspec ignores both at run time; the controllers enforce them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Configured:
    """A currency code: the document lists the codes configured in ``CURRENCIES``."""


CONFIGURED = Configured()


@dataclass(frozen=True, slots=True)
class Exclusive:
    """Object-level rules: exactly one of the fields named in ``one_of`` is given (each variant,
    titled by its key, is that field with the required ones); each key of ``requires`` needs the
    fields it names."""

    one_of: Mapping[str, str] = field(default_factory=dict)
    requires: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
