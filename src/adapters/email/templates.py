"""Renders outbox events into text and HTML emails from the template files next to this module."""

from __future__ import annotations

import html
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from importlib.resources import files
from string import Template

from wallet_core.notifications import Notification, NotificationKind, subject_for
from wallet_core.ports import EmailMessage
from wallet_core.users import User

#: The only payload keys an email may show. Anything else in a payload (whatever a future use
#: case adds) stays out of emails unless a template is deliberately changed to name it.
PAYLOAD_FIELDS = frozenset(
    {
        "reference",
        "amount",
        "currency",
        "sender",
        "recipient",
        "description",
        "status",
        "expires_at",
        "withdrawal_code",
    }
)
_COMMON_FIELDS = frozenset({"name", "product_name", "public_base_url"})
_LAYOUT_FIELDS = _COMMON_FIELDS | {"subject", "content", "details"}
_ROW_FIELDS = frozenset({"label", "value"})
_TEMPLATE_DIR = files(__package__ or __name__) / "templates"


class TemplateRenderer:
    """A ``MessageRenderer`` over ``string.Template`` files: one ``<kind>.txt`` and one
    ``<kind>.html`` per event kind, wrapped in a shared layout with a details table.

    Templates are read and checked once, at construction, so a missing file or a misspelt
    ``$placeholder`` fails at start-up rather than in a worker at send time.
    """

    def __init__(self, public_base_url: str, product_name: str = "Digital Wallet") -> None:
        self._base_url = public_base_url.rstrip("/")
        self._product_name = product_name
        self._text: dict[NotificationKind, Template] = {}
        self._html: dict[NotificationKind, Template] = {}
        for kind in NotificationKind:
            self._text[kind] = _load(f"{kind.value}.txt", PAYLOAD_FIELDS | _COMMON_FIELDS)
            self._html[kind] = _load(f"{kind.value}.html", PAYLOAD_FIELDS | _COMMON_FIELDS)
        self._text_layout = _load("layout.txt", _LAYOUT_FIELDS)
        self._html_layout = _load("layout.html", _LAYOUT_FIELDS)
        self._text_row = _load("detail_row.txt", _ROW_FIELDS)
        self._html_row = _load("detail_row.html", _ROW_FIELDS)

    def render(self, event: Notification, user: User) -> EmailMessage:
        try:
            kind = NotificationKind(event.kind)
        except ValueError:
            raise ValueError(f"No email template for event kind {event.kind!r}.") from None
        payload = {key: event.payload.get(key, "") for key in PAYLOAD_FIELDS}
        payload["expires_at"] = _readable_time(payload["expires_at"])
        values = {
            **payload,
            "name": (user.first_name.strip() or user.username),
            "product_name": self._product_name,
            "public_base_url": self._base_url,
        }
        # Collapsed to one line: a header cannot carry a line break.
        subject = " ".join(subject_for(kind, dict(event.payload)).split())
        text = self._compose(kind, values, subject, self._text, self._text_layout, self._text_row)
        page = self._compose(
            kind, values, subject, self._html, self._html_layout, self._html_row, html.escape
        )
        return EmailMessage(
            to=user.email, subject=subject, text=text, html=page, message_id=str(event.id)
        )

    def _compose(
        self,
        kind: NotificationKind,
        values: Mapping[str, str],
        subject: str,
        bodies: Mapping[NotificationKind, Template],
        layout: Template,
        row: Template,
        escape: Callable[[str], str] = str,
    ) -> str:
        """Fill the kind's body, then the layout; every value passes through ``escape`` once.

        The filled body goes into the layout as-is: ``string.Template`` never re-reads what it
        substituted, so a ``$`` in a payload value stays literal text.
        """
        safe = {key: escape(value) for key, value in values.items()}
        rows = "\n".join(
            row.substitute(label=escape(label), value=escape(value)).strip()
            for label, value in _details(values)
        )
        return layout.substitute(
            safe,
            subject=escape(subject),
            content=bodies[kind].substitute(safe).strip(),
            details=rows,
        )


def _details(values: Mapping[str, str]) -> list[tuple[str, str]]:
    """The facts every email lists under its message, skipping the ones that are empty."""
    pending = values["status"] == "pending"
    rows = [
        ("Reference", values["reference"]),
        ("Amount", f"{values['amount']} {values['currency']}".strip()),
        ("From", values["sender"]),
        ("To", values["recipient"]),
        ("Status", values["status"].capitalize()),
        ("Note", values["description"]),
        ("Expires", values["expires_at"] if pending else ""),
    ]
    return [(label, value) for label, value in rows if value]


def _readable_time(value: str) -> str:
    """ISO timestamps as people read them, in UTC; anything unparsable is shown unchanged."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def _load(name: str, allowed: frozenset[str]) -> Template:
    source = (_TEMPLATE_DIR / name).read_text(encoding="utf-8")
    template = Template(source)
    unknown = set(template.get_identifiers()) - allowed
    if not template.is_valid() or unknown:
        raise ValueError(f"Email template {name} has invalid placeholders: {sorted(unknown)}")
    return template
