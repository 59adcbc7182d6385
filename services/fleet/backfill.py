"""`census fleet --history-days N`: produce the fleet's back-dated history straight to Kafka,
through which the aggregator counts it as it counts live pings."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

from aiokafka import AIOKafkaProducer

from schemas.record import PingRecord, encode_record, record_key
from services.common.settings import KafkaSettings

log = logging.getLogger(__name__)

IN_FLIGHT = 2000


async def produce(settings: KafkaSettings, records: Iterable[PingRecord]) -> int:
    """Sends every record (acks=all, idempotent) and returns how many the broker acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=20,
        max_batch_size=1 << 20,
    )
    await producer.start()
    sent = 0
    try:
        pending: list[asyncio.Future[object]] = []
        for record in records:
            pending.append(
                await producer.send(settings.topic, encode_record(record), key=record_key(record))
            )
            if len(pending) >= IN_FLIGHT:
                await asyncio.gather(*pending)
                sent += len(pending)
                pending = []
                if sent % 50_000 < IN_FLIGHT:
                    log.info("history: %d records produced", sent)
        await asyncio.gather(*pending)
        sent += len(pending)
    finally:
        await producer.stop()
    return sent
