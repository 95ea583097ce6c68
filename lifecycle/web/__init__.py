"""The daemon's HTTP side: `/healthz`, `/readyz`, `/metrics` and the Exotel webhook receiver.

`app` holds the handlers and readiness, `callbacks` reads and parses webhook bodies,
`server` listens (timeouts, the connection cap) and `repeats` keeps floods out of the log.
"""

from lifecycle.web.app import WebState, is_authorized, judge_readiness, make_app
from lifecycle.web.callbacks import Callback, CallbackInvalid, parse_callback
from lifecycle.web.server import Listen, start

__all__ = [
    "Callback",
    "CallbackInvalid",
    "Listen",
    "WebState",
    "is_authorized",
    "judge_readiness",
    "make_app",
    "parse_callback",
    "start",
]
