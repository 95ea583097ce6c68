"""What reading the campaign list costs, before (main's parser) and after, side by side.

    .venv/bin/python bench/bench_parse.py [--sizes 1000,10000,100000] [--repeat 3]
                                          [--before COMMIT] [--seed S]

A synthetic fleet is served as list pages of 500, as JSON bytes (the simulator's shape:
v2 items with `data` and a stats map; mostly archived and completed campaigns). Each page
is decoded and read the way `ExotelClient.list_campaigns` does, one page at a time, the
campaigns kept by id and the page's JSON dropped. Timestamps are realistic rather than
friendly: `date_created` and `date_updated` are distinct to the second in +05:30 (so a
timestamp cache rarely hits), schedules fall on quarter hours.

"before" is `lifecycle/` as it was at commit --before (main before the lean campaigns,
taken with `git archive` into a temporary directory); "after" is this tree. Each runs in
its own fresh process, so RSS figures are not mixed. Printed per size:
- decode µs/c: `json.loads` per campaign (the same code in both; for scale);
- parse µs/c: the decoded page into Campaigns (`answer_from_body` + `campaigns_from_answer`),
  CPU of one core (`time.process_time`), garbage collection included, best of --repeat;
  GC b/a: how much of it the cyclic garbage collector took, before and after (it walks
  every live object now and then, the fleet growing under it included);
- fleet MB: what the campaigns read hold once every page is dropped (tracemalloc);
- RSS MB: the process's resident set after the list, fleet alive, minus before it.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import resource
import subprocess
import sys
import tarfile
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from io import BytesIO
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BEFORE = "e04f484ac578"  # main before issue 11 item 2 (lean campaigns)
PAGE = 500
NOW = datetime(2026, 11, 27, 14, 0, tzinfo=UTC)
IST = timezone(timedelta(hours=5, minutes=30))
STATUSES = [
    ("Archived", 0.50),
    ("Completed", 0.22),
    ("InProgress", 0.12),
    ("Paused", 0.09),
    ("Created", 0.04),
    ("Canceled", 0.02),
    ("Failed", 0.01),
]
PREFIXES = ["retail-", "uae-", "dxb-", "night-", "test-", "draft-", "collect-", "promo-", "ops-"]
CUSTOM = ["", "", "collections", "collections-west", "blr", "promo-dec", "keep", "promo-keep"]


def _ist(at: datetime) -> str:
    return at.astimezone(IST).isoformat()


def page_bytes(offset: int, size: int, seed: int) -> bytes:
    """Page `offset // PAGE` of a fleet of `size`, as the JSON bytes a server sends."""
    rng = random.Random(seed * 1_000_003 + offset)
    statuses, weights = [s for s, _ in STATUSES], [w for _, w in STATUSES]
    items = []
    for i in range(offset, min(offset + PAGE, size)):
        done = rng.randrange(0, 400)
        failed = int(done * rng.random() ** 2)
        created = NOW - timedelta(seconds=rng.randrange(86400, 400 * 86400))
        data = {
            "id": f"{rng.getrandbits(128):032x}",
            "account_sid": "bench",
            "name": f"{rng.choice(PREFIXES)}{i}",
            "type": "trans",
            "caller_id": "08047112345",
            "status": rng.choices(statuses, weights)[0],
            "custom_field": rng.choice(CUSTOM),
            "schedule": {
                "send_at": _ist(NOW - timedelta(minutes=15 * rng.randrange(96, 96 * 60))),
                "end_at": _ist(NOW + timedelta(minutes=15 * rng.randrange(-96 * 30, 96 * 30))),
            },
            "date_created": _ist(created),
            "date_updated": _ist(created + timedelta(seconds=rng.randrange(0, 30 * 86400))),
            "stats": {"completed": done - failed, "failed": failed, "pending": 10},
        }
        items.append({"code": 200, "status": "success", "error_data": None, "data": data})
    metadata = {"count": len(items), "offset": offset, "total": size, "limit": PAGE}
    body = {"request_id": "bench", "http_code": 200, "metadata": metadata, "response": items}
    return json.dumps(body).encode()


def _rss_mb() -> float:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def child(variant: str, tree: str, size: int, repeat: int, seed: int) -> dict[str, Any]:
    """One variant's figures, in this (fresh) process."""
    sys.path.insert(0, tree)
    from lifecycle.client import answer as parser  # the variant's own

    pages = [page_bytes(offset, size, seed) for offset in range(0, size, PAGE)]
    reader_class = getattr(parser, "CampaignReader", None)
    collecting = [0.0, 0.0]  # CPU seconds in garbage collections while parsing; start

    def timed_collections(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            collecting[1] = time.process_time()
        else:
            collecting[0] += time.process_time() - collecting[1]

    gc.callbacks.append(timed_collections)

    def read_list() -> tuple[dict[str, Any], float, float, float]:
        found: dict[str, Any] = {}
        decode = parse = collected = 0.0
        reader = reader_class() if reader_class is not None else None
        for raw in pages:
            start = time.process_time()
            body = json.loads(raw)
            middle, collecting[0] = time.process_time(), 0.0
            answer = parser.answer_from_body(body)
            page = (
                parser.campaigns_from_answer(answer, reader)
                if reader is not None
                else parser.campaigns_from_answer(answer)
            )
            found.update((c.id, c) for c in page)
            del body, answer, page
            end = time.process_time()
            decode += middle - start
            parse += end - middle
            collected += collecting[0]
        return found, decode, parse, collected

    gc.collect()
    before = _rss_mb()
    fleet, decode, parse, collected = read_list()
    gc.collect()
    rss = _rss_mb() - before
    del fleet
    for _ in range(repeat - 1):
        gc.collect()
        _, d, p, c = read_list()
        if p < parse:
            parse, collected = p, c
        decode = min(decode, d)
    gc.callbacks.remove(timed_collections)
    gc.collect()
    tracemalloc.start()
    fleet, _, _, _ = read_list()
    gc.collect()
    held, _peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert len(fleet) == size, f"{variant}: read {len(fleet)} of {size}"
    return {
        "variant": variant,
        "size": size,
        "decode_s": decode,
        "parse_s": parse,
        "gc_s": collected,
        "fleet_mb": held / 2**20,
        "rss_mb": rss,
        "peak_mb": _peak_kb() / 1024,
    }


def _peak_kb() -> int:
    """Peak RSS of this process's own memory map (VmHWM): ru_maxrss survives execve, so it
    would report the parent's peak when the parent was the larger."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def before_tree(commit: str, into: Path) -> Path:
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "lifecycle"],
        check=True,
        capture_output=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def run(variant: str, tree: Path, size: int, args: argparse.Namespace) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", variant, str(tree), str(size)]
    command += ["--repeat", str(args.repeat), "--seed", str(args.seed)]
    out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return result


def _us(seconds: float, size: int) -> float:
    return seconds / size * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default=BEFORE, metavar="COMMIT")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--child", nargs=3, metavar=("VARIANT", "TREE", "SIZE"))
    args = parser.parse_args()
    if args.child:
        variant, tree, size = args.child
        print(json.dumps(child(variant, tree, int(size), args.repeat, args.seed)))
        return
    head = (
        f"{'campaigns':>9} | {'decode µs/c':>11} | {'parse µs/c':>10} {'before':>8} "
        f"{'after':>8} {'ratio':>6} {'GC b/a':>9} | "
        f"{'fleet MB':>8} {'before':>8} {'after':>8} {'ratio':>6} | "
        f"{'RSS +MB':>7} {'before':>7} {'after':>7} | {'B/campaign':>10} {'after':>6}"
    )
    print(f"before = lifecycle/ at {args.before}; after = {ROOT}\n")
    print(head)
    print("-" * len(head))
    with tempfile.TemporaryDirectory(prefix="bench-parse-") as temp:
        old_tree = before_tree(args.before, Path(temp))
        for size in (int(s) for s in args.sizes.split(",")):
            old = run("before", old_tree, size, args)
            new = run("after", ROOT, size, args)
            old_us, new_us = _us(old["parse_s"], size), _us(new["parse_s"], size)
            print(
                f"{size:>9} | {_us(new['decode_s'], size):11.1f} | {'':>10} {old_us:8.2f} "
                f"{new_us:8.2f} {old_us / new_us:5.1f}× "
                f"{_us(old['gc_s'], size):4.1f}/{_us(new['gc_s'], size):<4.1f} | "
                f"{'':>8} {old['fleet_mb']:8.1f} "
                f"{new['fleet_mb']:8.1f} {old['fleet_mb'] / new['fleet_mb']:5.1f}× | "
                f"{'':>7} {old['rss_mb']:7.1f} {new['rss_mb']:7.1f} | "
                f"{old['fleet_mb'] * 2**20 / size:10.0f} {new['fleet_mb'] * 2**20 / size:6.0f}"
            )
    print(
        "\nparse: CPU of one core, best of the repeats, garbage collection included (GC b/a: "
        "its part, µs/c, before/after); "
        "fleet: tracemalloc once every page is dropped; RSS: resident set after minus before"
    )


if __name__ == "__main__":
    main()
