"""One list of campaigns and what is known about its completeness.

A list is paged with offset/limit until `metadata.total` (docs/exotel-api.md, "Paging").
A server that ignores `offset` (or pages with `page`/`page_size`, as an old Exotel sample
does) answers every page with the first one: without comparing against `metadata.total`
the list would end short and nobody would know. A `Listing` carries that fact to every
caller, while still being the sequence of campaigns that were read.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from lifecycle.model import Campaign


@dataclass(frozen=True)
class Listing(Sequence[Campaign]):
    """The campaigns one list call read (each id once, oldest first), as a sequence.

    `total` is `metadata.total` from the last page (None when the server gives none);
    `repeated` says paging stopped on a page that repeated the one before; `unreadable`
    counts rows skipped as failed or malformed; `cut_after` is set when the page budget
    stopped the list. A campaign missing from an incomplete
    listing is unknown, never gone: callers act on what was read and nothing else.
    """

    campaigns: tuple[Campaign, ...] = ()
    total: int | None = None
    repeated: bool = False
    unreadable: int = 0
    cut_after: int | None = None  # pages read when the page cap stopped the list

    @property
    def read(self) -> int:
        return len(self.campaigns)

    @property
    def complete(self) -> bool:
        """False when the list ended before `metadata.total`, on a repeated page, or at
        the page cap."""
        if self.repeated or self.cut_after is not None:
            return False
        return self.total is None or self.read >= self.total

    @property
    def shortfall(self) -> str | None:
        """What is missing, for a log line and /readyz; None when the list is complete."""
        if self.complete:
            return None
        counted = f"{self.read} of {self.total}" if self.total is not None else f"{self.read}"
        if self.repeated:
            why = "the server sent the same page again (does it ignore offset?)"
        elif self.cut_after is not None:
            why = f"stopped after {self.cut_after} pages, the most one list may take"
        else:
            why = "the pages ended before metadata.total"
        if self.unreadable:
            why += f"; {self.unreadable} rows could not be read"
        return f"read {counted} campaigns: {why}"

    def __len__(self) -> int:
        return len(self.campaigns)

    def __iter__(self) -> Iterator[Campaign]:
        return iter(self.campaigns)

    @overload
    def __getitem__(self, index: int) -> Campaign: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Campaign]: ...
    def __getitem__(self, index: int | slice) -> Campaign | Sequence[Campaign]:
        return self.campaigns[index]
