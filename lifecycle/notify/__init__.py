"""Notifications: what the daemon did and what went wrong, told to webhooks, Slack and mail.

compose   a tick's step outcomes -> one digest Message; other events -> a Message each
watch     TickWatch: outages (API, database), their recovery, ticks failing for too long
render    a Message as a webhook's JSON, a Slack message, an email
transport sending one rendered message to one channel (HTTP or SMTP); DeliveryFailed
notifier  Notifier: a queue and a worker per channel, retries with back-off, each message
          recorded in the store before it is sent so that a restart never sends it again
"""

from lifecycle.notify.compose import event_message, rules_rejected, tick_messages
from lifecycle.notify.notifier import Notifier
from lifecycle.notify.transport import DeliveryFailed, Transport
from lifecycle.notify.watch import TickWatch

__all__ = [
    "DeliveryFailed",
    "Notifier",
    "TickWatch",
    "Transport",
    "event_message",
    "rules_rejected",
    "tick_messages",
]
