"""A Message in the shape each kind of channel reads. Pure: no I/O."""

from __future__ import annotations

from email.message import EmailMessage
from typing import Any

from lifecycle.notice import Message, Severity
from lifecycle.rules.notify import EmailSpec

# A Slack message is cut at 40,000 characters; a mail should stay readable. The webhook
# gets every entry: it is read by a program.
MAX_LINES = 200
_MARKS = {Severity.INFO: "•", Severity.WARNING: "⚠", Severity.ERROR: "✖"}


def webhook_body(message: Message) -> dict[str, Any]:
    """The generic webhook's JSON (README, Operate: notifications); `account` only when
    the daemon serves several accounts."""
    account = {} if message.account is None else {"account": message.account}
    return {
        "source": "lifecycle",
        **account,
        "key": message.key,
        "title": message.title,
        "severity": message.severity.value,
        "count": len(message.notices),
        "notices": [notice.to_json() for notice in message.notices],
    }


def lines(message: Message) -> list[str]:
    shown = [f"{_MARKS[n.severity]} {n.text}" for n in message.notices[:MAX_LINES]]
    left = len(message.notices) - len(shown)
    return shown + ([f"… and {left} more"] if left else [])


def slack_body(message: Message) -> dict[str, Any]:
    """An incoming webhook's body: text only, which every Slack workspace shows."""
    head = f"*lifecycle {message.severity.value}: {message.title}*"
    return {"text": "\n".join([head, *lines(message)])}


def email(message: Message, spec: EmailSpec) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = f"[lifecycle] {message.severity.value}: {message.title}"[:200]
    mail["From"] = spec.from_
    mail["To"] = ", ".join(spec.to)
    mail.set_content("\n".join([message.title, "", *lines(message), ""]))
    return mail
