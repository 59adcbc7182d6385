"""Turning a Kafka value into a countable PingRecord, or the reason it goes to the DLQ. Pure."""

from __future__ import annotations

import msgspec

from schemas.catalog import OTHER, Catalogs
from schemas.record import PingRecord, decode_record


class Unusable(ValueError):
    """A record the aggregator cannot count; `reason` is one of metrics.DLQ_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


def decode(value: bytes | None, catalogs: Catalogs) -> PingRecord:
    """The record in `value`, or Unusable."""
    if value is None:
        raise Unusable("undecodable", "empty value")
    try:
        record = decode_record(value)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise Unusable("undecodable", str(exc)[:200]) from None
    catalog = catalogs.get(record.product)
    if catalog is None:
        raise Unusable("unknown_product", record.product)
    if record.event not in catalog.events and record.event != OTHER:
        # Ingest counts an unknown event as OTHER; a name this aggregator does not know comes
        # from an ingest with a newer catalog (a rolling upgrade): counted the same way.
        record = msgspec.structs.replace(record, event=OTHER)
    attrs, counts = record.attrs, record.counts
    if attrs.keys() <= catalog.attrs.keys() and counts.keys() <= catalog.counts.keys():
        return record
    # Only what the catalog declares is ever stored. A record can name more when ingest runs a
    # newer catalog than this aggregator (a rolling upgrade): count the rest of it anyway.
    return msgspec.structs.replace(
        record,
        attrs={k: v for k, v in attrs.items() if k in catalog.attrs},
        counts={k: v for k, v in counts.items() if k in catalog.counts},
    )
