"""Turning a Kafka value into a countable PingRecord, or the reason it goes to the DLQ. Pure."""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from schemas.catalog import OTHER, Catalogs
from schemas.record import PingRecord, decode_record


class Unusable(ValueError):
    """A record the aggregator cannot count; `reason` is one of metrics.DLQ_REASONS."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class _Declared:
    """The names one product's catalog declares, as sets (looked up once per record)."""

    events: frozenset[str]
    attrs: frozenset[str]
    counts: frozenset[str]


class RecordDecoder:
    """Decodes values against catalogs read once: the per-record work is the msgpack decode and
    three set checks (the catalog lookup was a tenth of the aggregator's decode time)."""

    def __init__(self, catalogs: Catalogs) -> None:
        self._declared = {
            product: _Declared(
                frozenset(catalog.events), frozenset(catalog.attrs), frozenset(catalog.counts)
            )
            for product, catalog in catalogs.by_product.items()
        }

    def __call__(self, value: bytes | None) -> PingRecord:
        """The record in `value`, or Unusable."""
        if value is None:
            raise Unusable("undecodable", "empty value")
        try:
            record = decode_record(value)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise Unusable("undecodable", str(exc)[:200]) from None
        declared = self._declared.get(record.product)
        if declared is None:
            raise Unusable("unknown_product", record.product)
        if record.event not in declared.events and record.event != OTHER:
            # Ingest counts an unknown event as OTHER; a name this aggregator does not know comes
            # from an ingest with a newer catalog (a rolling upgrade): counted the same way.
            record = msgspec.structs.replace(record, event=OTHER)
        attrs, counts = record.attrs, record.counts
        if attrs.keys() <= declared.attrs and counts.keys() <= declared.counts:
            return record
        # Only what the catalog declares is ever stored. A record can name more when ingest runs
        # a newer catalog than this aggregator (a rolling upgrade): count the rest of it anyway.
        return msgspec.structs.replace(
            record,
            attrs={k: v for k, v in attrs.items() if k in declared.attrs},
            counts={k: v for k, v in counts.items() if k in declared.counts},
        )


def decode(value: bytes | None, catalogs: Catalogs) -> PingRecord:
    """The record in `value`, or Unusable (a RecordDecoder made for this one call)."""
    return RecordDecoder(catalogs)(value)
