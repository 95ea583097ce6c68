"""Exotel callback bodies: read whole, bounded in size, time and depth, then parsed.

A body is read to its end (never one `read(n)` that returns what the first packet held:
a form id cut short would ask for a tick on another campaign, or on none). Every way a
body can be wrong is a `CallbackInvalid` whose message says where, answered 4xx: never a
500, never a RecursionError.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from aiohttp import web

MAX_BODY = 64 * 1024
# Exotel's callbacks are flat objects with at most an array of call sids in them.
MAX_DEPTH = 16
_CAMPAIGN_KEYS = ("campaign_sid", "CampaignSid", "campaign_id")
_STATUS_KEYS = ("status", "Status", "FinalStatus")


class CallbackInvalid(ValueError):
    """A webhook body we cannot use; the message names what is wrong. `status` is the
    HTTP answer: 400, 408 (the body did not come in time) or 413 (too large)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Callback:
    campaign_id: str
    status: str | None


def parse_callback(fields: Mapping[str, object]) -> Callback:
    """Accept both key styles Exotel documents (snake_case and PascalCase)."""
    campaign = next((fields[k] for k in _CAMPAIGN_KEYS if k in fields), None)
    if not isinstance(campaign, str) or not campaign.strip():
        raise CallbackInvalid(f"missing campaign id: expected one of {', '.join(_CAMPAIGN_KEYS)}")
    if len(campaign) > 64 or not campaign.replace("-", "").replace("_", "").isalnum():
        raise CallbackInvalid("campaign_sid: not an Exotel id")
    status = next((fields[k] for k in _STATUS_KEYS if k in fields), None)
    if status is not None and not isinstance(status, str):
        raise CallbackInvalid("status: must be a string")
    return Callback(campaign_id=campaign.strip(), status=status)


async def read_fields(request: web.Request, *, within: float) -> Mapping[str, object]:
    """The whole body as fields, JSON or form-encoded. The application's
    `client_max_size` must be MAX_BODY + 1 (aiohttp refuses a body of that size or more).
    The body must arrive `within` seconds: a slow sender does not hold a connection."""
    try:
        async with asyncio.timeout(within):
            raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise CallbackInvalid(f"body larger than {MAX_BODY} bytes", 413) from None
    except TimeoutError:
        raise CallbackInvalid(f"body not received within {within:g}s", 408) from None
    if request.content_type == "application/json":
        return decode_json(raw)
    try:
        return dict(parse_qsl(raw.decode("utf-8"), strict_parsing=bool(raw)))
    except (UnicodeDecodeError, ValueError):
        raise CallbackInvalid("body is neither JSON nor form-encoded") from None


def decode_json(raw: bytes) -> Mapping[str, object]:
    """A JSON object, its nesting checked before the decoder recurses into it."""
    deepest = _too_deep(raw)
    if deepest is not None:
        raise CallbackInvalid(f"JSON nested deeper than {MAX_DEPTH} levels at char {deepest}")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CallbackInvalid(f"body is not valid JSON: {exc.msg} at char {exc.pos}") from None
    except UnicodeDecodeError:
        raise CallbackInvalid("body is not UTF-8") from None
    if not isinstance(body, dict):
        raise CallbackInvalid("JSON body must be an object")
    return body


def _too_deep(raw: bytes) -> int | None:
    """The offset where brackets outside strings first nest past MAX_DEPTH, else None.
    Linear, and blind to everything else: the decoder judges the rest."""
    depth, in_string, escaped = 0, False, False
    for offset, byte in enumerate(raw):
        if escaped:
            escaped = False
        elif in_string:
            escaped = byte == 0x5C  # a backslash: the next byte is taken as it is
            in_string = byte != 0x22  # a quote ends the string
        elif byte == 0x22:
            in_string = True
        elif byte in b"[{":
            depth += 1
            if depth > MAX_DEPTH:
                return offset
        elif byte in b"]}":
            depth -= 1
    return None
