"""Which records of a batch count: retries recognised by their ping id, and a cap per install-day.

Pure. Every install-day row keeps the ids it needs for this, and the flush reads that row anyway,
so a retry costs no lookup of its own. Both lists are bounded, so a row stays small however much
an install sends:

- Client ids (`ping_id` sent by the client; `install_days.ping_ids`, 16 bytes each): a record
  whose id the row of its UTC day holds is a retry, and so is one received within `RETRY_WINDOW`
  after midnight whose id the row of the day before holds. A row keeps the ids of its latest
  `CLIENT_IDS_KEPT` counted pings (1 kB). The cost: a retry that arrives after the install has
  had more than that many other pings counted the same day is counted again.
- Derived ids (made by ingest from the ping's content when the client sent none,
  `PingRecord.id_derived`; `install_days.retry_ids`, 20 bytes each: the id and its last sighting
  in seconds after the row's midnight, big-endian): a record is a retry when the same id was last
  sighted (counted, or itself recognised as a retry) at most `DERIVED_WINDOW` before or after it.
  Identical pings further apart both count, so two equal heartbeats an hour apart are two pings.
  A row keeps the sightings of the `DERIVED_WINDOW` before its last ping, at most
  `DERIVED_IDS_KEPT` of them. The costs: a retry arriving more than `DERIVED_WINDOW` after the
  last copy of it that reached Kafka is counted again; a client that sends identical content
  (no `sent_at`, no change) more often than every `DERIVED_WINDOW` is counted once per such run;
  and a retry that is the install's first record of a new day is not itself written down, so a
  chain of retries across midnight is followed for `DERIVED_WINDOW` from the last one before it.
- At most `MAX_PINGS_PER_DAY` pings of one install count per UTC day; later ones move no figure
  (not its pings, events or day state). That bounds the work and the row of a flooding install.

Within a batch the first record consumed wins (a client id repeated in one batch is a retry
whatever its day).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

import msgspec

from schemas.record import PingRecord
from services.aggregator.rollup import DayKey, InstallDay

RETRY_WINDOW: Final = dt.timedelta(hours=1)
"""How long after midnight a client-id retry is still matched against the previous day's ids."""
DERIVED_WINDOW: Final = dt.timedelta(minutes=10)
"""How close to the last sighting of a derived id a repeat of it is taken for a retry."""
CLIENT_IDS_KEPT: Final = 64
DERIVED_IDS_KEPT: Final = 64
MAX_PINGS_PER_DAY: Final = 1440
"""One a minute all day: more than any seed product's client sends (Novu's beacon is hourly)."""

ID_BYTES: Final = 16
SIGHTING_BYTES: Final = ID_BYTES + 4
_WINDOW_S: Final = int(DERIVED_WINDOW.total_seconds())
_ONE_DAY: Final = dt.timedelta(days=1)

StoredIds = tuple[bytes, bytes]
"""(ping_ids, retry_ids) of a stored install-day row."""


def holds_id(ids: bytes, ping_id: bytes) -> bool:
    """Whether the concatenated 16-byte ids `ids` contain `ping_id` (at a 16-byte boundary)."""
    at = ids.find(ping_id)
    while at != -1:
        if at % ID_BYTES == 0:
            return True
        at = ids.find(ping_id, at + 1)
    return False


def sighting(entries: bytes, ping_id: bytes) -> int | None:
    """Seconds after its row's midnight of the last sighting of `ping_id` in `entries`, if any."""
    at = entries.find(ping_id)
    while at != -1:
        if at % SIGHTING_BYTES == 0:
            return int.from_bytes(entries[at + ID_BYTES : at + SIGHTING_BYTES], "big")
        at = entries.find(ping_id, at + 1)
    return None


def _midnight(day: dt.date) -> int:
    """Epoch seconds of the UTC midnight that starts `day`."""
    return (day.toordinal() - 719163) * 86400  # 719163: date(1970, 1, 1).toordinal()


def previous_day_keys(records: Sequence[PingRecord], days: Sequence[dt.date]) -> list[DayKey]:
    """The rows of the day before that retries among `records` must also be checked against."""
    keys: set[DayKey] = set()
    cutoffs: dict[dt.date, tuple[dt.datetime, dt.datetime]] = {}
    for record, day in zip(records, days, strict=True):
        if record.ping_id is None:
            continue
        cutoff = cutoffs.get(day)
        if cutoff is None:
            midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
            cutoff = cutoffs[day] = (midnight + RETRY_WINDOW, midnight + DERIVED_WINDOW)
        if record.received_at < cutoff[record.id_derived]:
            keys.add((day - _ONE_DAY, record.product, record.install_id))
    return list(keys)


# A Struct, made in C: one per install day of a batch (a dataclass's __init__ is Python code).
# gc=False: it refers to a key, a stored row, and lists and dicts of bytes and ints only.
class RowIds(msgspec.Struct, gc=False):
    """What a batch did to one install-day row: pings counted so far, ids to remember."""

    key: DayKey
    stored: InstallDay | None
    pings: int
    client_ids: list[bytes]
    """The client ids of its counted records, in consumption order."""
    sightings: dict[bytes, int]
    """Derived id → its last sighting (epoch seconds) on this row's day."""


@dataclass(slots=True)
class Admitted:
    """The records of a batch that count (with their days), and what `remember` must write."""

    records: list[PingRecord] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    duplicates: int = 0
    over_cap: int = 0
    rows: dict[tuple[dt.date, str, int], RowIds] = field(default_factory=dict)
    """By (day, product, install_id.int): hashing a UUID is a Python-level call."""


def admit(
    records: Sequence[PingRecord],
    days: Sequence[dt.date],
    stored: Mapping[DayKey, InstallDay],
    previous: Mapping[DayKey, StoredIds],
) -> Admitted:
    """Sort the records, in consumption order, into counted ones, retries and pings over the cap.

    `stored` holds the stored rows of the records' days, `previous` the ids of the rows of the day
    before named by `previous_day_keys`.
    """
    out = Admitted()
    rows = out.rows
    seen_client: set[int] = set()  # UUID.int, for the reason rows are keyed by it
    last_seen: dict[bytes, int] = {}  # a derived id hashes product and install: it is the key
    for record, day in zip(records, days, strict=True):
        install = record.install_id
        number_key = (day, record.product, install.int)
        slot = rows.get(number_key)
        if slot is None:
            key = (day, record.product, install)
            row = stored.get(key) if stored else None
            slot = rows[number_key] = RowIds(key, row, 0 if row is None else row.pings, [], {})
        ping_id = record.ping_id
        if ping_id is None:
            if slot.pings >= MAX_PINGS_PER_DAY:
                out.over_cap += 1
                continue
        elif not record.id_derived:
            number = ping_id.int
            raw = ping_id.bytes
            if number in seen_client or (
                (slot.stored is not None or previous)
                and _client_retry(record, day, raw, slot.stored, previous)
            ):
                out.duplicates += 1
                continue
            if slot.pings >= MAX_PINGS_PER_DAY:
                out.over_cap += 1
                continue
            seen_client.add(number)
            slot.client_ids.append(raw)
        else:
            raw = ping_id.bytes
            at = int(record.received_at.timestamp())
            last = last_seen.get(raw)
            if last is None and (slot.stored is not None or previous):
                last = _stored_sighting(record, day, raw, slot.stored, previous)
            if last is not None and abs(at - last) <= _WINDOW_S:
                out.duplicates += 1
                slot.sightings[raw] = last_seen[raw] = max(last, at)
                continue
            if slot.pings >= MAX_PINGS_PER_DAY:
                out.over_cap += 1
                continue
            slot.sightings[raw] = last_seen[raw] = at if last is None else max(last, at)
        slot.pings += 1
        out.records.append(record)
        out.days.append(day)
    return out


def _client_retry(
    record: PingRecord,
    day: dt.date,
    raw: bytes,
    row: InstallDay | None,
    previous: Mapping[DayKey, StoredIds],
) -> bool:
    if row is not None and holds_id(row.ping_ids, raw):
        return True
    if not previous:
        return False
    before = previous.get((day - _ONE_DAY, record.product, record.install_id))
    if before is None or not holds_id(before[0], raw):
        return False
    return record.received_at.timestamp() - _midnight(day) < RETRY_WINDOW.total_seconds()


def _stored_sighting(
    record: PingRecord,
    day: dt.date,
    raw: bytes,
    row: InstallDay | None,
    previous: Mapping[DayKey, StoredIds],
) -> int | None:
    """The last stored sighting of a derived id: in the row of its day, else the day before's."""
    if row is not None and row.retry_ids:
        seconds = sighting(row.retry_ids, raw)
        if seconds is not None:
            return _midnight(day) + seconds
    if previous:
        before = previous.get((day - _ONE_DAY, record.product, record.install_id))
        if before is not None and before[1]:
            seconds = sighting(before[1], raw)
            if seconds is not None:
                return _midnight(day - _ONE_DAY) + seconds  # within reach: previous_day_keys
    return None


def remember(rows: dict[DayKey, InstallDay], admitted: Admitted) -> None:
    """Write the admitted records' ids into `rows` (the rows the flush saves), bounded. A stored
    row whose only change is a retry's sighting joins `rows`; stored rows are never mutated."""
    keep = CLIENT_IDS_KEPT * ID_BYTES
    for slot in admitted.rows.values():
        key = slot.key
        if slot.client_ids:
            row = rows[key]  # it counted a record, so the merge made it
            joined = row.ping_ids + b"".join(slot.client_ids)
            row.ping_ids = joined[-keep:] if len(joined) > keep else joined
        if not slot.sightings:
            continue
        found = rows.get(key)
        if found is None:
            base = slot.stored
            if base is None:
                continue  # a retry of yesterday's ping, and the install's first record today
            found = rows[key] = InstallDay(
                base.version,
                base.platform,
                base.os,
                base.arch,
                base.attrs,
                base.counts,
                base.pings,
                base.first_ping,
                base.last_ping,
                base.ping_ids,
                base.retry_ids,
            )
        found.retry_ids = merge_sightings(found.retry_ids, slot.sightings, key[0], found.last_ping)


def merge_sightings(
    entries: bytes, sighted: Mapping[bytes, int], day: dt.date, last_ping: dt.datetime
) -> bytes:
    """A row's sightings with `sighted` (epoch seconds) merged in, latest kept per id, without
    those older than `DERIVED_WINDOW` before the row's last ping, at most `DERIVED_IDS_KEPT`."""
    midnight = _midnight(day)
    table: dict[bytes, int] = {}
    for at in range(0, len(entries) - SIGHTING_BYTES + 1, SIGHTING_BYTES):
        table[entries[at : at + ID_BYTES]] = int.from_bytes(
            entries[at + ID_BYTES : at + SIGHTING_BYTES], "big"
        )
    for raw, epoch in sighted.items():
        seconds = epoch - midnight
        if seconds > table.get(raw, -1):
            table[raw] = seconds
    floor = int(last_ping.timestamp()) - midnight - _WINDOW_S
    kept = sorted(((s, raw) for raw, s in table.items() if s >= floor), reverse=True)
    return b"".join(raw + s.to_bytes(4, "big") for s, raw in kept[:DERIVED_IDS_KEPT])
