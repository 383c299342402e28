"""Email adapters against a real SMTP server (aiosmtpd in a thread): rendering and delivery,
and the stable Message-ID that lets mail systems drop a copy sent again after a crash."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage as MimeMessage
from typing import Any
from uuid import UUID, uuid4

import pytest
import structlog
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from structlog.testing import capture_logs

from adapters.email.console import ConsoleNotifier
from adapters.email.smtp import EmailDeliveryError, SmtpNotifier, message_id_header
from adapters.email.templates import TemplateRenderer
from databases import create_database, drop_database
from entrypoints.bootstrap import build
from entrypoints.settings import load_settings
from environment import app_environment
from servers import free_port
from support import PASSWORD, new_name, new_phone
from wallet_core.notifications import Notification, NotificationKind
from wallet_core.ports import EmailMessage
from wallet_core.services.auth import Registration
from wallet_core.services.context import Actor
from wallet_core.users import User

SENDER = "Digital Wallet <no-reply@wallet.example>"
CODE = "K7P2Q9XM4R"
NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
LEFTOVER_PLACEHOLDER = re.compile(r"\$[A-Za-z_{]")


@dataclass
class Collector:
    """An aiosmtpd handler that keeps what it receives, or refuses it with ``reply``."""

    reply: str = "250 OK"
    advertise_starttls: bool = False
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_EHLO(  # noqa: N802 (aiosmtpd's hook name)
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        if self.advertise_starttls:
            # Offered but unusable (no TLS context): a client that tries it fails with 454.
            responses.insert(-1, "250-STARTTLS")
        return responses

    async def handle_DATA(  # noqa: N802 (aiosmtpd's hook name)
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        if self.reply.startswith("250"):
            self.envelopes.append(envelope)
        return self.reply

    def only_message(self) -> MimeMessage:
        assert len(self.envelopes) == 1
        content = self.envelopes[0].original_content or b""
        parsed = email.message_from_bytes(content, policy=email.policy.default)
        assert isinstance(parsed, MimeMessage)
        return parsed


def serve(handler: Collector, **options: Any) -> Controller:
    controller = Controller(handler, hostname="127.0.0.1", port=free_port(), **options)
    controller.start()
    return controller


@pytest.fixture
def smtp() -> Iterator[tuple[Collector, int]]:
    handler = Collector()
    controller = serve(handler)
    yield handler, controller.port
    controller.stop()


def make_user(first_name: str = "Ada") -> User:
    return User(
        id=uuid4(),
        email="ada@example.com",
        username="ada_l",
        phone_number="+14155550123",
        password_hash="x",
        created_at=NOW,
        updated_at=NOW,
        first_name=first_name,
    )


def make_event(kind: NotificationKind, **overrides: str) -> Notification:
    payload = {
        "transaction_id": str(uuid4()),
        "reference": "TRF-ABCDEFGHJK",
        "type": "transfer",
        "status": "pending",
        "amount": "12.50",
        "currency": "USD",
        "sender": "ada_l",
        "recipient": "grace_h",
        "description": "Lunch",
        "expires_at": (NOW + timedelta(minutes=30)).isoformat(),
    }
    if kind is NotificationKind.CASHOUT_REQUESTED:
        payload["withdrawal_code"] = CODE
    payload.update(overrides)
    return Notification(
        id=uuid4(), kind=kind.value, user_id=uuid4(), created_at=NOW, payload=payload
    )


def message(message_id: str = "0195a1b2-0000-7000-8000-000000000001") -> EmailMessage:
    return EmailMessage(
        to="grace@example.com",
        subject="Deposit received: 12.50 USD",
        text="Hello Grace,\n\n12.50 USD arrived.",
        html="<p>Hello Grace,</p><p>12.50 USD arrived.</p>",
        message_id=message_id,
    )


renderer = TemplateRenderer("https://wallet.example/", product_name="Digital Wallet")


# Rendering ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_every_kind_renders_text_and_html_without_placeholders(kind: NotificationKind) -> None:
    event = make_event(kind)

    rendered = renderer.render(event, make_user())

    assert rendered.to == "ada@example.com"
    assert rendered.message_id == str(event.id)
    assert rendered.subject and "\n" not in rendered.subject
    assert "12.50 USD" in rendered.subject
    for body in (rendered.subject, rendered.text, rendered.html):
        assert not LEFTOVER_PLACEHOLDER.search(body), body
    assert rendered.text.startswith("Hello Ada,")
    assert "Hello Ada," in rendered.html
    assert "12.50 USD" in rendered.text
    assert '<a href="https://wallet.example"' in rendered.html
    assert "https://wallet.example" in rendered.text


def test_greeting_falls_back_to_the_username() -> None:
    rendered = renderer.render(
        make_event(NotificationKind.DEPOSIT_RECEIVED), make_user(first_name=" ")
    )

    assert rendered.text.startswith("Hello ada_l,")
    assert "Hello ada_l," in rendered.html


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_payload_values_are_escaped_in_html(kind: NotificationKind) -> None:
    hostile = "<script>alert('x')</script> & co"
    event = make_event(kind, description=hostile, reference="<b>TRF</b>", sender="a&b")

    rendered = renderer.render(event, make_user(first_name="<i>Ada</i>"))

    assert "<script>" not in rendered.html
    assert "<b>TRF</b>" not in rendered.html
    assert "<i>Ada</i>" not in rendered.html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; co" in rendered.html
    assert "Hello &lt;i&gt;Ada&lt;/i&gt;," in rendered.html
    assert hostile in rendered.text


def test_dollar_signs_in_values_stay_literal() -> None:
    rendered = renderer.render(
        make_event(NotificationKind.TRANSFER_RECEIVED, description="$content $amount"), make_user()
    )

    assert "Note: $content $amount" in rendered.text
    assert "$content $amount" in rendered.html


def test_cashout_email_carries_the_code_prominently() -> None:
    rendered = renderer.render(make_event(NotificationKind.CASHOUT_REQUESTED), make_user())

    assert f"\n    {CODE}\n" in rendered.text
    assert re.search(rf"<span[^>]*font-size:28px[^>]*>{CODE}</span>", rendered.html)
    assert "2025-03-01 12:30 UTC" in rendered.text


@pytest.mark.parametrize("kind", list(NotificationKind))
def test_no_email_carries_a_token_or_an_unlisted_payload_value(kind: NotificationKind) -> None:
    event = make_event(kind, access_token="eyJhbGciOiJIUzI1NiJ9.secret", token="tok-123")

    rendered = renderer.render(event, make_user())

    for body in (rendered.subject, rendered.text, rendered.html):
        assert "token" not in body.lower()
        assert "bearer" not in body.lower()
        assert "eyJ" not in body and "tok-123" not in body
        if kind is not NotificationKind.CASHOUT_REQUESTED:
            assert CODE not in body


def test_expiry_shows_only_while_pending() -> None:
    rendered = renderer.render(
        make_event(NotificationKind.CASHOUT_COMPLETED, status="completed"), make_user()
    )

    assert "Expires" not in rendered.text
    assert "Status: Completed" in rendered.text


def test_unknown_kind_is_refused() -> None:
    event = Notification(id=uuid4(), kind="password_changed", user_id=uuid4(), created_at=NOW)

    with pytest.raises(ValueError, match="password_changed"):
        renderer.render(event, make_user())


# Delivery ----------------------------------------------------------------------------------------


async def test_smtp_delivers_multipart_text_and_html(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, timeout=5)

    await notifier.send(message())

    envelope = handler.envelopes[0]
    assert envelope.mail_from == "no-reply@wallet.example"
    assert envelope.rcpt_tos == ["grace@example.com"]
    received = handler.only_message()
    assert received.get_content_type() == "multipart/alternative"
    assert received["From"] == SENDER
    assert received["To"] == "grace@example.com"
    assert received["Subject"] == "Deposit received: 12.50 USD"
    assert received["Message-ID"] == "<0195a1b2-0000-7000-8000-000000000001@wallet.example>"
    assert received["Date"]
    text = received.get_body(("plain",))
    page = received.get_body(("html",))
    assert text is not None and page is not None
    assert "12.50 USD arrived." in text.get_content()
    assert "<p>12.50 USD arrived.</p>" in page.get_content()


async def test_rendered_cashout_email_arrives_with_the_code(smtp: tuple[Collector, int]) -> None:
    handler, port = smtp
    event = make_event(NotificationKind.CASHOUT_REQUESTED)
    notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, timeout=5)

    await notifier.send(renderer.render(event, make_user()))

    received = handler.only_message()
    assert received["Message-ID"] == f"<{event.id}@wallet.example>"
    raw = (handler.envelopes[0].original_content or b"").decode()
    assert "token" not in raw.lower()
    assert "bearer" not in raw.lower()
    for part in ("plain", "html"):
        body = received.get_body((part,))
        assert body is not None
        assert CODE in body.get_content()


async def test_unreachable_server_raises_delivery_error() -> None:
    notifier = SmtpNotifier("127.0.0.1", free_port(), sender=SENDER, timeout=2)

    with pytest.raises(EmailDeliveryError, match="unreachable") as caught:
        await notifier.send(message())

    assert not caught.value.permanent


async def test_refusal_raises_a_permanent_delivery_error() -> None:
    handler = Collector(reply="550 5.7.1 Message rejected")
    controller = serve(handler)
    try:
        notifier = SmtpNotifier("127.0.0.1", controller.port, sender=SENDER, timeout=5)
        with pytest.raises(EmailDeliveryError, match="550") as caught:
            await notifier.send(message())
    finally:
        controller.stop()

    assert caught.value.permanent
    assert handler.envelopes == []


async def test_temporary_refusal_is_not_permanent() -> None:
    controller = serve(Collector(reply="451 4.3.0 Try again later"))
    try:
        notifier = SmtpNotifier("127.0.0.1", controller.port, sender=SENDER, timeout=5)
        with pytest.raises(EmailDeliveryError, match="451") as caught:
            await notifier.send(message())
    finally:
        controller.stop()

    assert not caught.value.permanent


async def test_starttls_is_off_unless_configured() -> None:
    handler = Collector(advertise_starttls=True)
    controller = serve(handler)
    try:
        await SmtpNotifier("127.0.0.1", controller.port, sender=SENDER, timeout=5).send(message())
        assert len(handler.envelopes) == 1

        with pytest.raises(EmailDeliveryError):
            await SmtpNotifier(
                "127.0.0.1", controller.port, starttls=True, sender=SENDER, timeout=5
            ).send(message())
    finally:
        controller.stop()

    assert len(handler.envelopes) == 1


def authenticator(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
) -> AuthResult:
    good = isinstance(auth_data, LoginPassword) and auth_data == (b"mailer", b"s3cret-pass")
    return AuthResult(success=good, handled=False)


async def test_auth_is_used_when_configured() -> None:
    handler = Collector()
    controller = serve(handler, authenticator=authenticator, auth_require_tls=False)
    try:
        await SmtpNotifier(
            "127.0.0.1", controller.port, "mailer", "s3cret-pass", sender=SENDER, timeout=5
        ).send(message())
        with pytest.raises(EmailDeliveryError, match="535") as caught:
            await SmtpNotifier(
                "127.0.0.1", controller.port, "mailer", "wrong", sender=SENDER, timeout=5
            ).send(message())
    finally:
        controller.stop()

    assert len(handler.envelopes) == 1
    assert caught.value.permanent


def test_configuration_mistakes_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="together"):
        SmtpNotifier("127.0.0.1", 25, username="mailer")
    with pytest.raises(ValueError, match="sender"):
        SmtpNotifier("127.0.0.1", 25, sender="Digital Wallet")


def test_message_id_header_uses_the_sender_domain() -> None:
    event_id = UUID("0195a1b2-0000-7000-8000-000000000001")

    assert message_id_header(str(event_id), SENDER) == f"<{event_id}@wallet.example>"
    assert message_id_header("<already@formed>", SENDER) == "<already@formed>"


class WorkerDied(Exception):
    pass


class CrashAfterSending:
    """The SMTP server took the message, then the worker died before recording it as sent (here
    an exception, which rolls the delivery's transaction back just as the crash would)."""

    def __init__(self, notifier: SmtpNotifier) -> None:
        self._notifier = notifier

    async def send(self, message: EmailMessage) -> None:
        await self._notifier.send(message)
        raise WorkerDied("the worker died before the commit")


@pytest.fixture
async def own_database() -> AsyncIterator[str]:
    url = await create_database("wallet_email")
    yield url
    await drop_database(url)


async def test_an_email_sent_again_after_a_crash_keeps_its_message_id(
    smtp: tuple[Collector, int], own_database: str
) -> None:
    """Delivery is at least once: a copy after a crash carries the same Message-ID, made from
    the outbox notification's id, so the recipient's mail system can drop it."""
    handler, port = smtp
    settings = load_settings(
        app_environment(
            DATABASE_URL=own_database, EMAIL_FROM=SENDER, SMTP_HOST="127.0.0.1", SMTP_PORT=str(port)
        ),
        env_file=None,
    )
    smtp_notifier = SmtpNotifier("127.0.0.1", port, sender=SENDER, timeout=5)
    crashing = build(settings, notifier=CrashAfterSending(smtp_notifier))
    recovered = build(settings, notifier=smtp_notifier)
    try:
        name = new_name()
        user, wallet = await crashing.core.auth.register(
            Registration(f"{name}@example.com", name, PASSWORD, new_phone())
        )
        staff_name = new_name("staff")
        staff, _ = await crashing.core.auth.register(
            Registration(
                f"{staff_name}@example.com", staff_name, PASSWORD, new_phone(), is_staff=True
            )
        )
        await crashing.core.deposits.manual(
            Actor(staff.id, True), amount="12.50", wallet_id=wallet.id
        )
        queued: list[UUID] = []

        async def enqueue(notification_id: UUID) -> None:
            queued.append(notification_id)

        await crashing.core.notifications.relay(enqueue)
        (notification_id,) = queued  # the deposit's email to the user

        with pytest.raises(WorkerDied):
            await crashing.core.notifications.deliver(notification_id)
        assert await recovered.core.notifications.deliver(notification_id) is True
        assert await recovered.core.notifications.deliver(notification_id) is False  # sent now
    finally:
        await crashing.close()
        await recovered.close()

    copies = [
        email.message_from_bytes(e.original_content or b"", policy=email.policy.default)
        for e in handler.envelopes
    ]
    assert [c["To"] for c in copies] == [user.email, user.email]
    assert {c["Subject"] for c in copies} == {"Deposit received: 12.50 USD"}
    assert [c["Message-ID"] for c in copies] == [f"<{notification_id}@wallet.example>"] * 2


async def test_console_notifier_logs_the_message() -> None:
    structlog.reset_defaults()  # an app started by another test may filter info lines out
    with capture_logs() as logs:
        await ConsoleNotifier().send(message())

    assert logs == [
        {
            "event": "email.sent",
            "log_level": "info",
            "to": "grace@example.com",
            "subject": "Deposit received: 12.50 USD",
            "message_id": "0195a1b2-0000-7000-8000-000000000001",
            "text": "Hello Grace,\n\n12.50 USD arrived.",
        }
    ]
