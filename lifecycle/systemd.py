"""systemd's side channels, with no dependency: sd_notify and journald priorities.

- `notify("READY=1")` sends a datagram to $NOTIFY_SOCKET (Type=notify units); outside
  systemd there is no socket and it does nothing.
- `watchdog_interval()` is how often to send WATCHDOG=1 when the unit sets WatchdogSec=
  (half the period, as sd_watchdog_enabled(3) advises), None when it does not.
- `is_journal(stream)` tells whether a stream is connected to journald ($JOURNAL_STREAM
  names its device and inode), where a `<N>` prefix on each line sets its priority.
"""

from __future__ import annotations

import logging
import os
import socket
from typing import TextIO

# syslog(3) priorities for Python's levels: `journalctl -p warning` shows 4 and below.
PRIORITIES = {
    logging.DEBUG: 7,
    logging.INFO: 6,
    logging.WARNING: 4,
    logging.ERROR: 3,
    logging.CRITICAL: 2,
}


def notify(state: str) -> bool:
    """Tell systemd `state` ("READY=1", "WATCHDOG=1", "STATUS=…", "STOPPING=1"); True
    when a socket was there to take it. Never raises: a lost datagram must not stop us."""
    address = os.environ.get("NOTIFY_SOCKET")
    if not address:
        return False
    if address.startswith("@"):  # an abstract socket: the name starts with a NUL byte
        address = "\0" + address[1:]
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
            sock.connect(address)
            sock.sendall(state.encode())
    except OSError:
        return False
    return True


def watchdog_interval() -> float | None:
    """Seconds between WATCHDOG=1 messages, or None when no watchdog watches this process."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID")
    if not usec.isdigit() or int(usec) == 0 or (pid and pid != str(os.getpid())):
        return None
    return int(usec) / 2_000_000


def is_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journald stream systemd connected us to."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    try:
        found = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # closed, or no file behind it (pytest)
        return False
    return expected == f"{found.st_dev}:{found.st_ino}"


class JournalFormatter(logging.Formatter):
    """Wraps a formatter: each line of a record (a multi-line rejected edit included) gets
    the record's `<N>` priority prefix, which journald strips and keeps as PRIORITY."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{PRIORITIES.get(record.levelno, 6)}>"
        return "\n".join(prefix + line for line in self.inner.format(record).split("\n"))
