"""Lean campaigns (issue 11, item 2): slotted frozen values, count maps with shared keys,
and a reader that shares what repeats across a list's pages without changing what is read.

The reference below is the campaign reading as it was before the reader: every field
through the checking helpers, one by one. The reader's fast path must agree with it on
every shape (documented or odd), with the same warnings."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import tracemalloc
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.client.answer import (
    CampaignReader,
    _counts,
    _has_control,
    _loose_text,
    _required_id,
    _text,
    _timestamp,
    answer_from_body,
    campaign_from_api,
    campaigns_from_answer,
    campaigns_from_body,
)
from lifecycle.errors import ApiAnswerInvalid
from lifecycle.model import (
    _SPELLINGS_KEPT,
    _STATUS_BY_SPELLING,
    NO_COUNTS,
    CallCounts,
    Campaign,
    CountMap,
    CountSource,
    Status,
)


def reference_campaign(
    data: Mapping[str, object], item_summary: Mapping[str, int] | None = None
) -> Campaign:
    """`campaign_from_api` as it was: each field through its checking helper."""
    campaign_id = _required_id(data)
    schedule = data.get("schedule")
    plan = schedule if isinstance(schedule, Mapping) else data
    raw_status = data.get("status")

    def summary() -> CallCounts | None:
        inside = data.get("summary")
        if item_summary is not None:
            return CallCounts.from_summary(item_summary, CountSource.SUMMARY_ITEM)
        if isinstance(inside, Mapping):
            return CallCounts.from_summary(_counts(inside), CountSource.SUMMARY_DATA)
        return None

    return Campaign(
        id=campaign_id,
        name=_text(data, "name", campaign_id),
        status=Status.from_api(raw_status),
        raw_status=raw_status if isinstance(raw_status, str) else "",
        type=_loose_text(data, "type", campaign_id) or "trans",
        caller_id=_loose_text(data, "caller_id", campaign_id),
        custom_field=_loose_text(data, "custom_field", campaign_id),
        send_at=_timestamp(plan, "schedule.send_at", campaign_id),
        end_at=_timestamp(plan, "schedule.end_at", campaign_id),
        date_created=_timestamp(data, "date_created", campaign_id),
        date_updated=_timestamp(data, "date_updated", campaign_id),
        stats=_counts(data.get("stats")),
        summary=summary(),  # read last, as it was (the order of the warnings)
    )


def reference_list(body: object) -> list[Campaign]:
    found = []
    for item in answer_from_body(body).items:
        if item.ok and item.data is not None:
            with contextlib.suppress(ApiAnswerInvalid):
                found.append(reference_campaign(item.data, item.summary))
    return found


# ------------------------------------------------------------------------------ values


def a_campaign(**fields: Any) -> Campaign:
    return Campaign(id="c1", name="n", status=Status.PAUSED, **fields)


def test_a_campaign_is_slotted_and_frozen_and_replace_still_works() -> None:
    c = a_campaign(custom_field="keep", stats=CountMap.of({"completed": 3}))
    assert not hasattr(c, "__dict__")
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.status = Status.COMPLETED  # type: ignore[misc]
    moved = dataclasses.replace(c, status=Status.COMPLETED)
    assert (moved.status, moved.custom_field, moved.stats) == (Status.COMPLETED, "keep", c.stats)
    assert c.status == Status.PAUSED
    assert not hasattr(CallCounts(CountSource.NONE), "__dict__")


def test_campaigns_without_counts_share_one_empty_read_only_map() -> None:
    a, b = a_campaign(), a_campaign()
    assert a.stats is b.stats is NO_COUNTS
    assert CallCounts(CountSource.NONE).values is NO_COUNTS
    assert a.stats == {} and not a.stats and len(a.stats) == 0
    with pytest.raises(TypeError):
        a.stats["completed"] = 1  # type: ignore[index]
    assert campaign_from_api({"id": "c9"}).stats is NO_COUNTS


def test_a_count_map_reads_like_the_dict_it_holds_and_cannot_change() -> None:
    counts = CountMap.of({"completed": 40, "failed": 5, "failed-dnd": 2})
    assert counts == {"completed": 40, "failed": 5, "failed-dnd": 2}
    assert {"completed": 40, "failed": 5, "failed-dnd": 2} == counts  # noqa: SIM300 (reflected)
    assert counts != {"completed": 40, "failed": 5}
    assert list(counts) == ["completed", "failed", "failed-dnd"]  # the order reported
    assert (counts["failed"], counts.get("pending"), "failed-dnd" in counts) == (5, None, True)
    assert len(counts) == 3 and dict(counts.items()) == dict(counts)
    with pytest.raises(KeyError):
        counts["pending"]
    with pytest.raises(TypeError):
        counts["failed"] = 6  # type: ignore[index]
    with pytest.raises(ValueError, match="2 keys for 1 values"):
        CountMap({"a": 0, "b": 1}, (1,))
    assert repr(counts) == "CountMap({'completed': 40, 'failed': 5, 'failed-dnd': 2})"
    stats = a_campaign(stats=counts)
    assert (stats.counter("failed-dnd"), stats.counts.failed, stats.failure_rate) == (2, 7, 7 / 47)


def test_status_spellings_are_remembered_within_a_bound() -> None:
    spellings = [f"Paused{'_' * (i % 3)}{i}" for i in range(400)] + ["IN_PROGRESS", "Cancelled"]
    read = [Status.from_api(s) for s in spellings]
    assert read[:400] == [Status.UNKNOWN] * 400
    assert read[400:] == [Status.IN_PROGRESS, Status.CANCELED]
    assert Status.from_api("in-progress") is Status.from_api("InProgress") is Status.IN_PROGRESS
    assert len(_STATUS_BY_SPELLING) <= _SPELLINGS_KEPT


def test_the_control_character_check_is_the_same_set_as_before() -> None:
    def before(value: str) -> bool:
        return any(ord(ch) < 32 or 127 <= ord(ch) < 160 for ch in value)

    for point in [*range(0x300), 0x2028, 0xFEFF, 0x10FFFF]:
        assert _has_control(f"a{chr(point)}b") == before(chr(point)), hex(point)


# --------------------------------------------------------------------- sharing


def data(i: int, **fields: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": f"c{i}",
        "name": f"n{i}",
        "status": "Paused",
        "type": "trans",
        "caller_id": "08047112345",
        "custom_field": "collections",
        "schedule": {"send_at": "2026-11-27T09:00:00+05:30", "end_at": "2026-11-27T18:00:00Z"},
        "date_created": "2026-11-01T10:00:00+05:30",
        "date_updated": "2026-11-01T10:00:00+05:30",
        "stats": {"completed": 300, "failed": 400},
    }
    return {**base, **fields}


def page(*campaigns: dict[str, object]) -> dict[str, object]:
    items = [{"code": 200, "status": "success", "data": c} for c in campaigns]
    return {"request_id": "r", "http_code": 200, "response": items}


def test_one_reader_shares_equal_values_across_pages() -> None:
    # Two pages read by one reader: each repeated text, instant and key set is one object.
    reader = CampaignReader()
    # Fresh strings, as two JSON documents would hold them.
    first = campaigns_from_answer(answer_from_body(page(data(1))), reader)
    later = data(2, custom_field="".join(["collec", "tions"]), status="".join(["Pau", "sed"]))
    (a,), (b,) = first, campaigns_from_answer(answer_from_body(page(later)), reader)
    for field in ("raw_status", "type", "caller_id", "custom_field"):
        assert getattr(a, field) is getattr(b, field), field
    for field in ("send_at", "end_at", "date_created", "date_updated"):
        assert getattr(a, field) is getattr(b, field), field
    assert a.date_created is a.date_updated  # the same text, parsed once
    assert isinstance(a.stats, CountMap) and isinstance(b.stats, CountMap)
    assert a.stats._index is b.stats._index
    assert (a.stats, b.stats) == ({"completed": 300, "failed": 400},) * 2


def test_sharing_never_merges_distinct_values() -> None:
    spellings = ["Paused", "paused", "PAUSED", "in_progress", "In Progress", "Cancelled"]
    fields = ["collections", "Collections", "collections ", "collections-west", ""]
    instants = ["2026-11-01T10:00:00+05:30", "2026-11-01T04:30:00Z", "2026-11-01T04:30:00.5Z"]
    rows = [
        data(i, status=spellings[i % 6], custom_field=fields[i % 5],
             date_created=instants[i % 3], stats={"completed": i} if i % 2 else {"failed": i})
        for i in range(30)
    ]  # fmt: skip
    read = campaigns_from_body(page(*rows))
    for row, campaign in zip(rows, read, strict=True):
        assert campaign.raw_status == row["status"]
        assert campaign.custom_field == row["custom_field"]
        assert campaign.stats == row["stats"]
        assert campaign.date_created is not None and campaign.date_created.tzinfo is UTC
        assert campaign == reference_campaign(row)
    # Equal instants written differently are equal values, parsed from each text.
    assert read[0].date_created == read[1].date_created != read[2].date_created


def test_the_reader_keeps_its_tables_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("lifecycle.client.answer._SHARED_MAX", 4)
    reader = CampaignReader()
    rows = [
        data(i, custom_field=f"f{i}", date_updated=f"2026-11-01T10:00:{i:02d}Z",
             stats={f"k{i}": i})
        for i in range(12)
    ]  # fmt: skip
    read = campaigns_from_answer(answer_from_body(page(*rows)), reader)
    assert [c.custom_field for c in read] == [f"f{i}" for i in range(12)]
    assert [c.stats for c in read] == [{f"k{i}": i} for i in range(12)]
    assert [c.date_updated for c in read] == [datetime(2026, 11, 1, 10, 0, i, tzinfo=UTC)
                                              for i in range(12)]  # fmt: skip
    tables = (reader._texts, reader._instants, reader._shapes, reader._statuses)
    assert all(len(table) <= 4 for table in tables)


def test_a_fleet_holds_no_raw_json_and_little_per_campaign() -> None:
    # Bytes, not seconds: what 2,000 parsed campaigns keep once their JSON is gone. Each
    # holds its own id, name, two distinct instants and two counts; the rest is shared.
    # Main's parser kept about 960 B per campaign of this shape (bench/bench_parse.py).
    rows = [
        data(i, id=f"{i:032x}", name=f"retail-{i}", date_updated=f"2026-11-{1 + i % 28:02d}"
             f"T{i % 24:02d}:{i % 60:02d}:{i % 59:02d}+05:30", stats={"completed": 300 + i,
             "failed": 1000 + i, "pending": 10})
        for i in range(2000)
    ]  # fmt: skip
    body = page(*rows)
    tracemalloc.start()
    try:
        fleet = campaigns_from_body(body)
        held, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(fleet) == 2000 and fleet[7] == reference_campaign(rows[7])
    assert held / len(fleet) < 600, f"{held / len(fleet):.0f} B per campaign"


# ------------------------------------------------------------- the reference agrees

TEXTS = st.sampled_from(
    ["trans", "promo", "Collections", "collections", "", " x ", "bad\x07", "ünï", "a\x85b"]
)
ODD = st.one_of(st.none(), st.integers(-3, 3), st.booleans(), st.just([1]), st.just({"a": 1}))
STATUSES = st.one_of(
    st.sampled_from(["InProgress", "in-progress", "in_progress", "PAUSED", "Cancelled", "x"]), ODD
)
INSTANTS = st.one_of(
    st.sampled_from([
        "2026-11-27T09:00:00+05:30", "2026-11-27T03:30:00Z", "2026-11-27T03:30:00.123456789Z",
        "2026-11-27T09:00:00", " 2026-11-27T09:00:00+05:30 ", "", "soon", "9999-01-01T00:00:00Z",
        "1969-12-31T23:59:59Z", "2026-11-27T09:00:00-02:00", "2026-11-27",
    ]),
    ODD,
)  # fmt: skip
COUNT = st.one_of(st.integers(0, 500), st.sampled_from([-1, 2**31, 2**40, True, "9", None]))
COUNTS = st.one_of(
    st.dictionaries(st.sampled_from(["completed", "failed", "failed-dnd", "pending"]), COUNT),
    ODD,
)
IDS = st.one_of(st.sampled_from(["c1", "c2", "c3", "491dd6c97d64475ba0ce346a18530ce5"]),
                st.sampled_from(["..", "a/b", "", " ", "x" * 129, 7, True, None]))  # fmt: skip


@st.composite
def campaign_objects(draw: st.DrawFn) -> dict[str, object]:
    obj: dict[str, object] = {}
    key = draw(st.sampled_from(["id", "id", "id", "sid"]))
    obj[key] = draw(IDS)
    fields = [("name", st.one_of(TEXTS, ODD)), ("status", STATUSES),
              ("type", st.one_of(TEXTS, ODD)), ("caller_id", st.one_of(TEXTS, ODD)),
              ("custom_field", st.one_of(TEXTS, ODD)), ("date_created", INSTANTS),
              ("date_updated", INSTANTS), ("stats", COUNTS), ("summary", COUNTS)]  # fmt: skip
    for name, values in fields:
        if draw(st.booleans()):
            obj[name] = draw(values)
    where = draw(st.sampled_from(["schedule", "flat", "broken", "none"]))
    times = {k: draw(INSTANTS) for k in ("send_at", "end_at") if draw(st.booleans())}
    if where == "schedule":
        obj["schedule"] = times
    elif where == "flat":
        obj.update(times)
    elif where == "broken":
        obj["schedule"] = "tomorrow"
    return obj


@st.composite
def items(draw: st.DrawFn) -> object:
    shape = draw(st.sampled_from(["wrapped", "wrapped", "bare", "beside", "failed", "junk"]))
    obj = draw(campaign_objects())
    if shape == "bare":
        return obj
    if shape == "junk":
        return draw(st.sampled_from(["x", 3, None, []]))
    item: dict[str, object] = {"code": 200, "status": "success", "data": obj}
    if shape == "beside":
        item["summary"] = draw(COUNTS)
    if shape == "failed":
        item.update(code=404, status="failure", error_data={"message": "gone"})
    return item


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@settings(max_examples=80, deadline=None)
@given(st.lists(items(), max_size=12), st.integers(1, 5))
def test_page_by_page_reading_agrees_with_the_reference(rows: list[object], size: int) -> None:
    pages = [rows[i : i + size] for i in range(0, len(rows), size)] or [[]]
    bodies = [{"request_id": "r", "response": chunk} for chunk in pages]
    logger = logging.getLogger("lifecycle.client")
    expected_log, got_log = Records(), Records()
    logger.addHandler(expected_log)
    try:
        expected = [c for body in bodies for c in reference_list(body)]
    finally:
        logger.removeHandler(expected_log)
    reader = CampaignReader()
    logger.addHandler(got_log)
    try:
        got = [c for body in bodies for c in campaigns_from_answer(answer_from_body(body), reader)]
    finally:
        logger.removeHandler(got_log)
    assert got == expected
    # The same warnings, apart from the skip lines the reference does not write.
    skips = ("skipping a list item", "skipping an invalid campaign item")
    assert [m for m in got_log.messages if not m.startswith(skips)] == expected_log.messages
    for campaign in got:  # one reading of the same object by itself, with no sharing
        assert all(t is None or t.tzinfo is UTC for t in (campaign.send_at, campaign.end_at))


def test_the_documented_shapes_read_the_same_as_before() -> None:
    # exotel-api.md §0: summary beside data, summary inside it, both stats key sets, a bare
    # campaign, lowercase and PascalCase statuses, sid instead of id.
    analytics = {"created": 0, "in-progress": 900, "failed": 60, "failed-dnd": 2}
    summary = {"campaign_sid": "s1", "call_scheduled": 10, "call_completed": 4,
               "call_failed": 1, "DateCreated": "2020-11-24T23:52:19.625541789+05:30"}  # fmt: skip
    rows: list[object] = [
        {"code": 200, "status": "success", "error_data": None, "summary": summary,
         "data": {"id": "s1", "status": "paused", "date_created": "2020-11-24T23:52:19+05:30",
                  "date_updated": "2020-11-24T23:52:19+05:30"}},
        {"code": 200, "status": "success", "data": data(2, summary=summary, stats=None)},
        {"code": 200, "status": "success", "data": data(3, stats=analytics)},
        data(4, status="in-progress"),
        {"code": 200, "status": "success", "data": {"sid": "s5", "status": "InProgress"}},
    ]  # fmt: skip
    body = {"request_id": "r", "metadata": {"total": 5}, "response": rows}
    read = campaigns_from_body(body)
    assert read == reference_list(body)
    assert [c.id for c in read] == ["s1", "c2", "c3", "c4", "s5"]
    assert read[0].summary is not None and read[0].summary.source == CountSource.SUMMARY_ITEM
    assert read[0].failure_rate == 0.2 and read[1].failure_rate == 0.2
    assert read[2].counts.unknown_because() is not None  # no `completed`: no denominator
    assert campaign_from_api(rows[3]) == read[3]  # type: ignore[arg-type]
