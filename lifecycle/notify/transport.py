"""Sending one rendered message to one channel: JSON over HTTP, or mail over SMTP.

Errors come out as DeliveryFailed with a text that names no secret: never a webhook URL
(a Slack URL *is* its secret), a token or a password; only the channel's kind, the HTTP
status or the exception's type, and for mail the server's host.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from pathlib import Path
from typing import Any

import aiohttp

from lifecycle.errors import LifecycleError
from lifecycle.notice import Message
from lifecycle.notify import render
from lifecycle.rules.notify import ChannelSpec, EmailSpec, WebhookSpec


class DeliveryFailed(LifecycleError):
    """The channel did not take the message: retried with back-off, then given up."""


def read_secret(path: str) -> str:
    """The secret in the file at `path`, read at each send (so a rotated secret is used
    at once). The message names the file, never its content."""
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise DeliveryFailed(f"cannot read {path}: {reason}") from None


class Transport:
    """The HTTP session for webhooks and Slack, opened on first use; mail needs none."""

    def __init__(self, timeout: float = 10.0) -> None:
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def send(self, channel: ChannelSpec, message: Message) -> None:
        """Deliver, or raise DeliveryFailed."""
        if channel.webhook is not None:
            url, headers = _webhook_target(channel.webhook)
            await self._post(url, render.webhook_body(message), headers)
        elif channel.slack is not None:
            await self._post(read_secret(channel.slack.url_file), render.slack_body(message), {})
        elif channel.email is not None:
            await asyncio.to_thread(_send_mail, channel.email, message, self.timeout)

    async def _post(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout))
        try:
            async with self._session.post(url, json=body, headers=headers) as answer:
                await answer.read()
                status = answer.status
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            # Not str(exc): aiohttp puts the whole URL in some of its messages.
            raise DeliveryFailed(f"no answer ({type(exc).__name__})") from None
        if not 200 <= status < 300:
            raise DeliveryFailed(f"answered HTTP {status}")


def _webhook_target(spec: WebhookSpec) -> tuple[str, dict[str, str]]:
    url = spec.url if spec.url is not None else read_secret(str(spec.url_file))
    headers = {}
    if spec.token_file is not None:
        headers["Authorization"] = f"Bearer {read_secret(spec.token_file)}"
    return url, headers


def _send_mail(spec: EmailSpec, message: Message, timeout: float) -> None:
    """Blocking (smtplib): run in a worker thread, never on the event loop."""
    password = read_secret(spec.password_file) if spec.password_file else None
    mail = render.email(message, spec)
    try:
        server: smtplib.SMTP
        if spec.security == "tls":
            context = ssl.create_default_context()
            server = smtplib.SMTP_SSL(spec.host, spec.port, timeout=timeout, context=context)
        else:
            server = smtplib.SMTP(spec.host, spec.port, timeout=timeout)
        with server:
            if spec.security == "starttls":
                server.starttls(context=ssl.create_default_context())
            if spec.username is not None and password is not None:
                server.login(spec.username, password)
            server.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        # SMTP errors carry the server's reply, never our password; OSError the host.
        detail = str(exc).splitlines()[0][:200] if str(exc) else ""
        raise DeliveryFailed(
            f"mail via {spec.host}:{spec.port} failed ({type(exc).__name__}: {detail})"
        ) from None
