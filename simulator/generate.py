"""Generate a run: every store's daily snapshot as a CSV file, plus the manifest.

The files are written day-major (every store's day 0, then day 1, ...), the order the
manifest lists them in and the order they should be uploaded in. The manifest is computed
here from what was written, never by running the parser: the tests hold the parser to it.
"""

from __future__ import annotations

import csv
import io
import math
import operator
import os
import random
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, fields
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Required, TypedDict, Unpack

from simulator.manifest import (
    LOADED,
    REJECTED,
    ExpectedAlert,
    FileEntry,
    FileExpectation,
    Manifest,
)
from simulator.world import CATALOG_SIZE, StoreStock, World, build_world

HEADER = ("store", "item", "count")
WRITER_THREADS = 4  # file-writing threads (see _FileWriter)
WRITER_BATCH = 50  # files per writing task, and so per progress() call
BOM = "\ufeff"

# What the real parser's reason for a rejected file contains (inventory.csv_format).
REASON_WRONG_HEADER = "header must be store,item,count"
REASON_EMPTY = "empty file"

# Headers that are not `store,item,count` in any case or spacing, so the file is rejected.
WRONG_HEADERS: tuple[tuple[str, ...], ...] = (
    ("shop", "product", "qty"),
    ("store;item;count",),  # a spreadsheet that exported with semicolons
    ("store", "item"),
    ("item", "store", "count"),
    ("Store", "Item", "Quantity"),
    ("store", "item", "count", "price"),
)
# Counts the parser must reject: not a whole number >= 0 in ASCII digits.
NOT_WHOLE_NUMBERS = ("3.5", "n/a", "lots", "12 pcs", "1e3", "TBD", "٣", "?")


@dataclass(frozen=True)
class MessyRates:
    """Per-file probability of each messy mode; 0 disables it."""

    bom_crlf: float = 0.0  # UTF-8 BOM, CRLF line endings and a `Store,Item,Count` header
    quoted: float = 0.0  # every field quoted
    blank_lines: float = 0.0  # blank and whitespace-only lines, also before the header
    bad_rows: float = 0.0  # 1-3 extra rows: negative or non-integer count, missing field
    wrong_header: float = 0.0  # the whole file is rejected
    empty: float = 0.0  # a zero-byte file, rejected
    duplicates: float = 0.0  # a stale row for an item before its real row: the last wins
    large: float = 0.0  # share of stores that are warehouses, with a much larger assortment

    def __post_init__(self) -> None:
        for mode, rate in asdict(self).items():
            _check_rate(f"messy rate {mode}", rate)

    @classmethod
    def parse(cls, text: str) -> MessyRates:
        """Read `none`, `all=0.05` or `bom_crlf=0.1,bad_rows=0.05` (later entries win)."""
        rates: dict[str, float] = {}
        spec = text.strip()
        if spec.lower() in ("", "none", "0"):
            return cls()
        for part in spec.split(","):
            name, sep, value = (p.strip() for p in part.partition("="))
            if not sep:
                raise ValueError(
                    f"messy spec {part.strip()!r} is not MODE=RATE; "
                    f"e.g. 'all=0.05' or 'bom_crlf=0.1,bad_rows=0.05'"
                )
            if name != "all" and name not in MODES:
                raise ValueError(
                    f"unknown messy mode {name!r}; choose from all, {', '.join(MODES)}"
                )
            try:
                rate = float(value)
            except ValueError:
                raise ValueError(
                    f"messy rate for {name} must be a number in [0, 1], got {value!r}"
                ) from None
            rates.update(dict.fromkeys(MODES, rate) if name == "all" else {name: rate})
        return cls(**rates)

    def active(self) -> list[str]:
        """The modes with a rate above 0, in MODES order."""
        return [mode for mode in MODES if getattr(self, mode) > 0]


MODES: tuple[str, ...] = tuple(f.name for f in fields(MessyRates))
_PER_FILE_MODES = tuple(mode for mode in MODES if mode != "large")  # large is per store


def _check_rate(what: str, rate: float) -> None:
    if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0.0 <= rate <= 1.0:
        raise ValueError(f"{what} must be a probability in [0, 1], got {rate!r}")


def _check_count(what: str, value: int | None, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{what} must be a whole number >= {minimum}, got {value!r}")


@dataclass(frozen=True)
class Plan:
    """A run's validated parameters, with `stores` and `days` filled in."""

    files: int
    rows: int
    seed: int
    stores: int
    days: int
    stockout_rate: float
    restock_rate: float
    messy: MessyRates
    start_date: date

    def params(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "rows": self.rows,
            "stores": self.stores,
            "days": self.days,
            "stockout_rate": self.stockout_rate,
            "restock_rate": self.restock_rate,
            "messy": asdict(self.messy),
            "start_date": self.start_date.isoformat(),
        }


class PlanOptions(TypedDict, total=False):
    """The keyword arguments of `make_plan`, which `generate` passes on (defaults: there)."""

    files: Required[int]
    rows: Required[int]
    seed: Required[int]
    stores: int | None
    days: int | None
    stockout_rate: float
    restock_rate: float
    messy: MessyRates
    start_date: date


def make_plan(
    *,
    files: int,
    rows: int,
    seed: int,
    stores: int | None = None,
    days: int | None = None,
    stockout_rate: float = 0.03,
    restock_rate: float = 0.5,
    messy: MessyRates = MessyRates(),  # frozen, so sharing it is safe
    start_date: date = date(2026, 1, 5),
) -> Plan:
    """Validate the arguments of `generate` and derive the stores x days layout."""
    _check_count("files", files)
    _check_count("rows", rows)
    if rows > CATALOG_SIZE:
        raise ValueError(f"rows must be at most {CATALOG_SIZE} (the catalog's size), got {rows}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an integer, got {seed!r}")
    if stores is not None:
        _check_count("stores", stores)
    if days is not None:
        _check_count("days", days)
    _check_rate("stockout_rate", stockout_rate)
    _check_rate("restock_rate", restock_rate)
    if not isinstance(messy, MessyRates):
        raise ValueError(f"messy must be a MessyRates, got {messy!r}")
    if not isinstance(start_date, date):
        raise ValueError(f"start_date must be a date, got {start_date!r}")
    if stores is None and days is None:
        days = min(7, files)
    if stores is None:
        assert days is not None
        stores = math.ceil(files / days)
    if days is None:
        days = math.ceil(files / stores)
    if stores * days < files:
        raise ValueError(
            f"{stores} stores x {days} days give {stores * days} snapshots, fewer than "
            f"files={files}; raise stores or days, or leave one of them out"
        )
    if stores > files:
        raise ValueError(
            f"stores={stores} is more than files={files}: some stores would have no file"
        )
    return Plan(files, rows, seed, stores, days, stockout_rate, restock_rate, messy, start_date)


def generate(
    out_dir: Path,
    *,
    progress: Callable[[int], None] | None = None,
    **options: Unpack[PlanOptions],
) -> Manifest:
    """Write `files` CSVs below out_dir (path == S3 key) plus manifest.json; return the manifest.

    `options` are `make_plan`'s keyword arguments: files, rows and seed, and optionally
    stores, days, stockout_rate, restock_rate, messy and start_date.
    """
    plan = make_plan(**options)
    prepare_out_dir(out_dir)
    world = build_world(plan.seed, plan.stores, plan.rows, plan.messy.large)
    manifest = write_files(out_dir, plan, world, progress)
    manifest.save(out_dir)
    return manifest


def prepare_out_dir(out_dir: Path) -> None:
    """Create out_dir; refuse one with files in it, whose leftovers would be uploaded too."""
    if out_dir.exists() and not out_dir.is_dir():
        raise ValueError(f"{out_dir} exists and is not a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    if any(out_dir.iterdir()):
        raise ValueError(f"{out_dir} is not empty; generate into a new or empty folder")


def write_files(
    out_dir: Path,
    plan: Plan,
    world: World,
    progress: Callable[[int], None] | None = None,
) -> Manifest:
    """Evolve the world day by day, write each snapshot, and compute the manifest."""
    root = os.fspath(out_dir)
    width = max(5, len(str(plan.files - 1)))
    messy_rng = random.Random(f"{plan.seed}:messy")
    per_file_rates = [
        (mode, rate) for mode in _PER_FILE_MODES if (rate := getattr(plan.messy, mode)) > 0
    ]
    clean = _CleanWriter()
    stores = world.stores
    names = [world.item_names(store) for store in stores]
    stocks: list[StoreStock | None] = [None] * len(stores)
    loaded: list[list[int] | None] = [None] * len(stores)  # the table: last accepted counts
    entries: list[FileEntry] = []
    alerts: list[ExpectedAlert] = []
    with _FileWriter(progress) as writer:
        for day in range(plan.days):
            stamp = (plan.start_date + timedelta(days=day)).isoformat()
            for s, store in enumerate(stores):
                n = len(entries)
                if n == plan.files:
                    break
                stock = stocks[s]
                if stock is None:
                    stock = stocks[s] = StoreStock(
                        store, world.catalog, plan.seed, s, plan.stockout_rate, plan.restock_rate
                    )
                    counts = stock.counts
                else:
                    counts = stock.advance()
                folder = f"stores/{store.slug}/{stamp}"
                key = f"{folder}/inventory-{n:0{width}d}.csv"
                modes = [mode for mode, rate in per_file_rates if messy_rng.random() < rate]
                if "empty" in modes:
                    modes = ["empty"]  # nothing else can show in a zero-byte file
                if modes:
                    data, expect = _render_messy(store.name, names[s], counts, modes, messy_rng)
                else:
                    data = clean.render(store.name, names[s], counts)
                    expect = FileExpectation(LOADED, len(counts), 0)
                if store.warehouse and modes != ["empty"]:
                    modes.append("large")
                writer.write(f"{root}/{folder}", f"{root}/{key}", data)
                entries.append(FileEntry(key, store.name, day, modes, expect))
                if expect.status == LOADED:
                    _load(store.name, names[s], counts, loaded[s], key, alerts)
                    loaded[s] = counts.copy()
    final_state = sorted(
        (store.name, name, count)
        for store, store_names, counts in zip(stores, names, loaded, strict=True)
        if counts is not None
        for name, count in zip(store_names, counts, strict=True)
    )
    params = plan.params() | {"warehouses": sum(store.warehouse for store in stores)}
    return Manifest(plan.seed, params, entries, final_state, alerts)


def _load(
    store: str,
    names: list[str],
    counts: list[int],
    previous: list[int] | None,
    key: str,
    alerts: list[ExpectedAlert],
) -> None:
    """Record the NoStock alerts a loaded snapshot causes, in row order."""
    if 0 not in counts:
        return
    # The alert rule: a count becoming 0 (a new item at 0, or >0 -> 0) alerts once; 0 over 0 not.
    if previous is None:
        alerts.extend(
            ExpectedAlert(store, name, None, key)
            for name, count in zip(names, counts, strict=True)
            if count == 0
        )
    else:
        alerts.extend(
            ExpectedAlert(store, name, before, key)
            for name, count, before in zip(names, counts, previous, strict=True)
            if count == 0 and before > 0
        )


class _FileWriter:
    """Creates each file's folder and writes it on a few threads, in batches.

    On this kind of VM, creating a folder or a file costs 100-300 µs of kernel time, more than
    rendering the CSV, and system calls release the GIL: threads overlap that with rendering
    and spread it over both cores. `progress` is called on the caller's thread.
    """

    def __init__(
        self,
        progress: Callable[[int], None] | None,
        workers: int = WRITER_THREADS,
        batch: int = WRITER_BATCH,
    ) -> None:
        self._progress = progress
        self._batch_size = batch
        self._batch: list[tuple[str, str, bytes]] = []
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="simulator-write")
        self._pending: deque[tuple[Future[None], int]] = deque()
        self._max_pending = 2 * workers  # bounds the rendered bytes held in memory

    def __enter__(self) -> _FileWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        try:
            if exc_info[0] is None:
                self._submit()
                while self._pending:
                    self._wait_oldest()
        finally:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def write(self, folder: str, path: str, data: bytes) -> None:
        self._batch.append((folder, path, data))
        if len(self._batch) >= self._batch_size:
            self._submit()
            # Report what is done; wait only when too much is in flight.
            while self._pending and (
                self._pending[0][0].done() or len(self._pending) > self._max_pending
            ):
                self._wait_oldest()

    def _submit(self) -> None:
        if self._batch:
            batch, self._batch = self._batch, []
            self._pending.append((self._pool.submit(_write_batch, batch), len(batch)))

    def _wait_oldest(self) -> None:
        future, count = self._pending.popleft()
        future.result()  # re-raises a failed write here, on the caller's thread
        if self._progress is not None:
            self._progress(count)


def _write_batch(batch: list[tuple[str, str, bytes]]) -> None:
    for folder, path, data in batch:
        try:
            os.mkdir(folder)
        except FileNotFoundError:  # the store's first folder: create its parents too
            os.makedirs(folder, exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(data)


class _CleanWriter:
    """The hot path: a snapshot with header, LF and minimal quoting, as csv.writer writes it.

    A store's rows differ from day to day only in their counts, so each row's `store,item,`
    prefix is rendered by csv.writer once per store and reused; a count never needs quoting.
    That is about 4x faster than csv.writer.writerows for every file.
    """

    def __init__(self) -> None:
        self._buf = io.StringIO()
        self._writer = csv.writer(self._buf, lineterminator="\n")
        self._prefixes: dict[str, list[str]] = {}
        self._header = self._line(HEADER)

    def _line(self, fields: tuple[str, ...]) -> str:
        self._buf.seek(0)
        self._buf.truncate()
        self._writer.writerow(fields)
        return self._buf.getvalue()

    def render(self, store: str, names: list[str], counts: list[int]) -> bytes:
        prefixes = self._prefixes.get(store)
        if prefixes is None:
            # No field has a line break, so each row is one line ending in its terminator.
            prefixes = [self._line((store, name))[:-1] + "," for name in names]
            self._prefixes[store] = prefixes
        body = "\n".join(map(operator.add, prefixes, map(str, counts)))
        return f"{self._header}{body}\n".encode()


def _bad_row(store: str, item: str, rng: random.Random) -> tuple[str, ...]:
    """A row the parser must reject: negative or non-integer count, or a missing field."""
    kind = rng.randrange(7)
    if kind == 0:
        return (store, item, f"-{1 + rng.randrange(50)}")
    if kind == 1:
        return (store, item, rng.choice(NOT_WHOLE_NUMBERS))
    if kind == 2:
        return (store, item)  # the count column is missing
    if kind == 3:
        return (store, item, "")
    if kind == 4:
        return (store, "", str(rng.randrange(100)))
    if kind == 5:
        return ("", item, str(rng.randrange(100)))
    return (store, item, str(rng.randrange(100)), "note")  # one field too many


def _render_messy(
    store: str, names: list[str], counts: list[int], modes: list[str], rng: random.Random
) -> tuple[bytes, FileExpectation]:
    """Write a snapshot with the given messy modes; return its bytes and what it should do."""
    if "empty" in modes:
        return b"", FileExpectation(REJECTED, 0, 0, reason_contains=REASON_EMPTY)
    n = len(names)
    # Lines are ("row", fields), ("bad", fields) or ("blank", text); each is one physical line
    # because no generated field contains a line break.
    before: list[list[tuple[str, Any]]] = [[] for _ in range(n + 1)]  # inserted before row j
    duplicates = 0
    if "duplicates" in modes:
        for target in rng.sample(range(n), min(n, 1 + rng.randrange(3))):
            stale = counts[target] + 1 + rng.randrange(20)  # an earlier count, before sales
            before[rng.randint(0, target)].append(("row", (store, names[target], stale)))
            duplicates += 1
    if "bad_rows" in modes:
        for _ in range(1 + rng.randrange(3)):
            item = names[rng.randrange(n)]
            before[rng.randint(0, n)].append(("bad", _bad_row(store, item, rng)))
    crlf = "bom_crlf" in modes
    if "wrong_header" in modes:
        header: tuple[str, ...] = rng.choice(WRONG_HEADERS)
    else:
        header = ("Store", "Item", "Count") if crlf else HEADER  # a spreadsheet's export
    lines: list[tuple[str, Any]] = [("row", header)]
    for j in range(n + 1):
        lines.extend(before[j])
        if j < n:
            lines.append(("row", (store, names[j], counts[j])))
    if "blank_lines" in modes:
        for _ in range(1 + rng.randrange(min(20, 1 + n // 5))):
            lines.insert(rng.randint(0, len(lines)), ("blank", rng.choice(("", "", "   "))))

    newline = "\r\n" if crlf else "\n"
    buf = io.StringIO()
    if crlf:
        buf.write(BOM)
    if "quoted" in modes:
        writer = csv.writer(buf, lineterminator=newline, quoting=csv.QUOTE_ALL)
    else:
        writer = csv.writer(buf, lineterminator=newline)
    rejected_lines: list[int] = []
    for number, (kind, payload) in enumerate(lines, start=1):
        if kind == "blank":
            buf.write(payload + newline)
            continue
        writer.writerow(payload)
        if kind == "bad":
            rejected_lines.append(number)
    data = buf.getvalue().encode("utf-8")
    if "wrong_header" in modes:
        return data, FileExpectation(REJECTED, 0, 0, reason_contains=REASON_WRONG_HEADER)
    return data, FileExpectation(LOADED, n, len(rejected_lines), rejected_lines, duplicates)
