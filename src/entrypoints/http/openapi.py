"""The served OpenAPI document: settings, the bearer scheme, strict request bodies and links.

What the document promises, the schema fuzzer (``tests/fuzz``) holds the running service to:

- Security is declared where it applies (``BEARER`` on the protected routers and on logout),
  not globally, so the public operations (register, token, refresh, webhooks, health, metrics)
  carry no security requirement at all.
- Request bodies that refuse unknown fields (``forbid_unknown_fields`` Structs) say so with
  ``additionalProperties: false`` (:class:`StrictBodySchemaPlugin`).
- Object-level rules a Struct declares in ``__schema_extra__`` (exactly one of email and
  username; a new password needs the current one) become ``oneOf`` / ``dependentRequired``.
- Currency codes in requests are one ``Currency`` enum: the configured codes
  (:class:`CurrencySchemaPlugin`).
- Responses that lead somewhere carry OpenAPI links (:func:`linked`), e.g. a created transaction
  to reading it and acting on it; a union of tagged Structs names its discriminator.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any, get_args

import msgspec
from litestar import Response, Router
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import (
    Components,
    Discriminator,
    Link,
    OpenAPIMediaType,
    OpenAPIResponse,
    Operation,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.openapi.spec.enums import OpenAPIType
from litestar.plugins import OpenAPISchemaPlugin
from litestar.typing import FieldDefinition

from entrypoints.http import api_docs
from entrypoints.http.openapi_webhooks import event_webhooks
from entrypoints.http.schema_marks import CONFIGURED, Exclusive

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator

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
            # Reading the docs must not use up an anonymous caller's day of requests.
            opt={"rate_scope": "exempt"},
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
        webhooks=event_webhooks(),
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
        extra = getattr(field_definition.type_, "__schema_extra__", None)
        if isinstance(extra, Exclusive):
            if extra.one_of:
                schema.one_of = [
                    _variant(schema, title, name) for title, name in extra.one_of.items()
                ]
            if extra.requires:
                schema.dependent_required = {k: list(v) for k, v in extra.requires.items()}
        return schema


def _variant(schema: Schema, title: str, name: str) -> Schema:
    """The object ``schema`` with ``name`` given and the other optional fields left out."""
    fields = [name, *(schema.required or [])]
    return Schema(
        type=OpenAPIType.OBJECT,
        title=title,
        properties={field: (schema.properties or {})[field] for field in fields},
        required=sorted(fields),
    )


class CurrencySchemaPlugin(OpenAPISchemaPlugin):
    """Fields marked ``CONFIGURED`` are the ``Currency`` component: an enum of the configured
    codes, so the document (and a client generated from it) knows which currencies exist."""

    def __init__(self, codes: Collection[str]) -> None:
        self.currency = StrEnum("Currency", {code: code for code in codes})  # type: ignore[misc]

    def is_plugin_supported_field(self, field_definition: FieldDefinition) -> bool:
        return CONFIGURED in field_definition.metadata

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        return schema_creator.for_field_definition(  # type: ignore[return-value]
            FieldDefinition.from_annotation(self.currency)
        )


def linked(
    status: int, links: dict[str, Link], discriminated: Collection[Any] = ()
) -> type[Operation]:
    """An ``operation_class`` whose ``status`` response carries these OpenAPI ``links``, and
    whose request body and ``status`` response, when they are the unions in ``discriminated``
    (of tagged Structs), name their discriminator.

    Litestar's ``ResponseSpec`` has no links and its unions no discriminator, but a handler may
    choose the class that builds its Operation object; this one adds both once the responses
    exist.
    """
    discriminators = [tagged(union) for union in discriminated]

    @dataclass
    class LinkedOperation(Operation):
        def __post_init__(self) -> None:
            response = (self.responses or {}).get(str(status))
            if not isinstance(response, OpenAPIResponse):
                raise ValueError(f"no {status} response to link from")
            response.links = {**(response.links or {}), **links}
            bodies = [response.content, getattr(self.request_body, "content", None)]
            for content in bodies:
                for media in (content or {}).values():
                    _discriminate(media.schema, discriminators)

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
                    schema=Schema(type=OpenAPIType.STRING, description=description)
                ),
            }

    return CsvOperation


def tagged(union: Any) -> Discriminator:
    """The discriminator of a union of msgspec Structs tagged on one field."""
    members = get_args(union)
    configs = [member.__struct_config__ for member in members]
    (field,) = {config.tag_field for config in configs}
    return Discriminator(
        property_name=field,
        mapping={
            config.tag: f"#/components/schemas/{member.__name__}"
            for member, config in zip(members, configs, strict=True)
        },
    )


def _discriminate(schema: Schema | Reference | None, discriminators: list[Discriminator]) -> None:
    if not isinstance(schema, Schema) or not schema.one_of:
        return
    # Litestar names components by their qualified names until it shortens them at the end
    # (``entrypoints_http_schemas_TransferCreated`` becomes ``TransferCreated``).
    names = {item.ref.rsplit("_", 1)[-1] for item in schema.one_of if isinstance(item, Reference)}
    for discriminator in discriminators:
        targets = {ref.rsplit("/", 1)[-1] for ref in (discriminator.mapping or {}).values()}
        if names == targets:
            schema.discriminator = discriminator


def link_to(operation_id: str, description: str, **parameters: str) -> Link:
    """A link to ``operation_id``; parameters are runtime expressions (``$response.body#/id``)."""
    return Link(operation_id=operation_id, parameters=parameters, description=description)
