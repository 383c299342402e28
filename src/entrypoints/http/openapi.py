"""The served OpenAPI document: settings, the bearer scheme, strict request bodies and links.

What the document promises, the schema fuzzer (``tests/fuzz``) holds the running service to:

- Security is declared where it applies (``BEARER`` on the protected routers and on logout),
  not globally, so the public operations (register, token, refresh, webhooks, health, metrics)
  carry no security requirement at all.
- Request bodies that refuse unknown fields (``forbid_unknown_fields`` Structs) say so with
  ``additionalProperties: false`` (:class:`StrictBodySchemaPlugin`).
- Responses that lead somewhere carry OpenAPI links (:func:`linked`), e.g. a created transaction
  to reading it and acting on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Response, Router
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    SecurityScheme,
)
from litestar.openapi.spec import Schema as OpenAPISchema
from litestar.plugins import OpenAPISchemaPlugin

from entrypoints.http import api_docs

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema
    from litestar.typing import FieldDefinition

BEARER_SCHEME = "BearerToken"
#: The security requirement of every operation that needs an access token.
BEARER: list[dict[str, list[str]]] = [{BEARER_SCHEME: []}]


def _not_found_is_a_problem(response: Response[Any]) -> Response[Any]:
    """Litestar answers unknown paths under the docs prefix with an HTML page; like every other
    error here, it becomes a problem document."""
    if response.status_code == 404:
        raise NotFoundException()
    return response


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="Digital Wallet API",
        version="1.0.0",
        description=(
            "Multi-currency wallets on a double-entry ledger with pending transfers. "
            "Errors are RFC 9457 problem details (`application/problem+json`) with a stable "
            "`code`. Money is a decimal string. Money-moving POSTs require `Idempotency-Key`. "
            "Request bodies refuse unknown fields (400) unless their schema allows them."
        ),
        path="/api/schema",
        openapi_router=Router(
            "/api/schema",
            route_handlers=[api_docs.assets_router()],
            include_in_schema=False,
            after_request=_not_found_is_a_problem,
            response_headers=api_docs.security_headers(),
        ),
        render_plugins=api_docs.render_plugins("/api/schema"),
        components=Components(
            security_schemes={
                BEARER_SCHEME: SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT", description="Access token"
                )
            }
        ),
        use_handler_docstrings=False,
    )


def _forbids_unknown_fields(annotation: Any) -> bool:
    return (
        isinstance(annotation, type)
        and issubclass(annotation, msgspec.Struct)
        and annotation.__struct_config__.forbid_unknown_fields
    )


class StrictBodySchemaPlugin(OpenAPISchemaPlugin):
    """``additionalProperties: false`` for msgspec Structs declared with ``forbid_unknown_fields``.

    Litestar's own Struct plugin does not read that flag, so a client (or a fuzzer) would believe
    extra fields are welcome and then get a 400. This plugin lets the next plugin that handles
    Structs build the schema, then closes it.
    """

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return not field_definition.is_union and _forbids_unknown_fields(field_definition.type_)

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        builder = next(
            plugin
            for plugin in schema_creator.plugins
            if not isinstance(plugin, StrictBodySchemaPlugin)
            and schema_creator.plugin_supports_field(plugin, field_definition)
        )
        schema = builder.to_openapi_schema(field_definition, schema_creator)
        schema.additional_properties = False
        return schema


def linked(status: int, links: dict[str, Link]) -> type[Operation]:
    """An ``operation_class`` whose ``status`` response carries these OpenAPI ``links``.

    Litestar's ``ResponseSpec`` has no links, but a handler may choose the class that builds its
    Operation object; this one adds the links once the responses exist.
    """

    @dataclass
    class LinkedOperation(Operation):
        def __post_init__(self) -> None:
            response = (self.responses or {}).get(str(status))
            if not isinstance(response, OpenAPIResponse):
                raise ValueError(f"no {status} response to link from")
            response.links = {**(response.links or {}), **links}

    return LinkedOperation


def also_as_csv(status: int, description: str) -> type[Operation]:
    """An ``operation_class`` whose ``status`` response may also be ``text/csv`` (one
    ``ResponseSpec`` holds one media type)."""

    @dataclass
    class CsvOperation(Operation):
        def __post_init__(self) -> None:
            response = (self.responses or {}).get(str(status))
            if not isinstance(response, OpenAPIResponse):
                raise ValueError(f"no {status} response to add CSV to")
            response.content = {
                **(response.content or {}),
                "text/csv": OpenAPIMediaType(
                    schema=OpenAPISchema(type=OpenAPIType.STRING, description=description)
                ),
            }

    return CsvOperation


def link_to(operation_id: str, description: str, **parameters: str) -> Link:
    """A link to ``operation_id``; parameters are runtime expressions (``$response.body#/id``)."""
    return Link(operation_id=operation_id, parameters=parameters, description=description)
