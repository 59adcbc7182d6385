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

Within a batch the first record consumed wins, exactly as if each had come in its own flush.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Final

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
    client_reach = RETRY_WINDOW.total_seconds()
    for record, day in zip(records, days, strict=True):
        if record.ping_id is None:
            continue
        reach = _WINDOW_S if record.id_derived else client_reach
        if record.received_at.timestamp() - _midnight(day) < reach:
            keys.add((day - _ONE_DAY, record.product, record.install_id))
    return list(keys)


@dataclass(slots=True)
class Admitted:
    """The records of a batch that count (with their days), and what `remember` must write."""

    records: list[PingRecord] = field(default_factory=list)
    days: list[dt.date] = field(default_factory=list)
    duplicates: int = 0
    over_cap: int = 0
    client_ids: dict[DayKey, list[bytes]] = field(default_factory=dict)
    """Per row: the client ids of its counted records, in consumption order."""
    sightings: dict[DayKey, dict[bytes, int]] = field(default_factory=dict)
    """Per row of the sighting's day: derived id → its last sighting (epoch seconds)."""


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
    seen_client: set[int] = set()  # UUID.int: hashing a UUID itself is a Python-level call
    last_seen: dict[bytes, int] = {}  # a derived id hashes product and install: it is the key
    pings: dict[DayKey, int] = {}
    for record, day in zip(records, days, strict=True):
        key = (day, record.product, record.install_id)
        ping_id = record.ping_id
        derived_at: int | None = None
        number: int | None = None
        raw = b""
        if ping_id is None:
            pass
        elif not record.id_derived:
            number = ping_id.int
            raw = ping_id.bytes
            if number in seen_client or _client_retry(record, day, raw, key, stored, previous):
                out.duplicates += 1
                continue
        else:
            raw = ping_id.bytes
            derived_at = int(record.received_at.timestamp())
            last = last_seen.get(raw)
            if last is None:
                last = _stored_sighting(record, day, raw, key, stored, previous)
            if last is not None and abs(derived_at - last) <= _WINDOW_S:
                out.duplicates += 1
                latest = last_seen[raw] = max(last, derived_at)
                out.sightings.setdefault(key, {})[raw] = latest
                continue
            if last is not None and last > derived_at:
                derived_at = last  # a later sighting stays the last one
        count = pings.get(key)
        if count is None:
            row = stored.get(key)
            count = 0 if row is None else row.pings
        if count >= MAX_PINGS_PER_DAY:
            out.over_cap += 1
            continue
        pings[key] = count + 1
        if derived_at is not None:
            last_seen[raw] = derived_at
            out.sightings.setdefault(key, {})[raw] = derived_at
        elif number is not None:
            seen_client.add(number)
            ids = out.client_ids.get(key)
            if ids is None:
                out.client_ids[key] = [raw]
            else:
                ids.append(raw)
        out.records.append(record)
        out.days.append(day)
    return out


def _client_retry(
    record: PingRecord,
    day: dt.date,
    raw: bytes,
    key: DayKey,
    stored: Mapping[DayKey, InstallDay],
    previous: Mapping[DayKey, StoredIds],
) -> bool:
    if not stored and not previous:
        return False
    row = stored.get(key)
    if row is not None and holds_id(row.ping_ids, raw):
        return True
    if record.received_at.timestamp() - _midnight(day) >= RETRY_WINDOW.total_seconds():
        return False
    before = previous.get((day - _ONE_DAY, record.product, record.install_id))
    return before is not None and holds_id(before[0], raw)


def _stored_sighting(
    record: PingRecord,
    day: dt.date,
    raw: bytes,
    key: DayKey,
    stored: Mapping[DayKey, InstallDay],
    previous: Mapping[DayKey, StoredIds],
) -> int | None:
    """The last stored sighting of a derived id: in the row of its day, else the day before's."""
    row = stored.get(key)
    if row is not None and row.retry_ids:
        seconds = sighting(row.retry_ids, raw)
        if seconds is not None:
            return _midnight(day) + seconds
    if previous:
        before = previous.get((day - _ONE_DAY, record.product, record.install_id))
        if before is not None and before[1]:
            seconds = sighting(before[1], raw)
            if seconds is not None:
                return _midnight(day - _ONE_DAY) + seconds
    return None


def remember(
    rows: dict[DayKey, InstallDay], stored: Mapping[DayKey, InstallDay], admitted: Admitted
) -> None:
    """Write the admitted records' ids into `rows` (the rows the flush saves), bounded. A stored
    row whose only change is a retry's sighting joins `rows`; stored rows are never mutated."""
    keep = CLIENT_IDS_KEPT * ID_BYTES
    for key, ids in admitted.client_ids.items():
        row = rows[key]  # it counted a record, so the merge made it
        joined = row.ping_ids + b"".join(ids)
        row.ping_ids = joined[-keep:] if len(joined) > keep else joined
    for key, sighted in admitted.sightings.items():
        found = rows.get(key)
        if found is None:
            base = stored.get(key)
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
        found.retry_ids = merge_sightings(found.retry_ids, sighted, key[0], found.last_ping)


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
