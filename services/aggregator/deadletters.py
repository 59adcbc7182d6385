"""Where records the aggregator cannot count go: the dead-letter topic, behind a Protocol."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Protocol

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.aggregator.batch import DeadLetter

log = logging.getLogger(__name__)

REASON_HEADER = "census-dlq-reason"
SOURCE_HEADER = "census-dlq-source"


class DeadLetterError(Exception):
    """The dead letters could not be sent; the flush that carries them is tried again."""


class DeadLetterSink(Protocol):
    async def send(self, letters: Sequence[DeadLetter]) -> None:
        """Deliver every letter (acknowledged), or raise DeadLetterError."""


class KafkaDeadLetters:
    """Dead letters as records of the DLQ topic: the original key and value, with the reason
    and the source (topic/partition/offset) in headers."""

    def __init__(self, bootstrap: str, dlq_topic: str, source_topic: str) -> None:
        self._topic = dlq_topic
        self._source_topic = source_topic
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", enable_idempotence=True
        )

    async def send(self, letters: Sequence[DeadLetter]) -> None:
        if not letters:
            return
        try:
            futures = [
                await self._producer.send(
                    self._topic,
                    value=letter.value,
                    key=letter.key,
                    headers=[
                        (REASON_HEADER, letter.reason.encode()),
                        (
                            SOURCE_HEADER,
                            f"{self._source_topic}/{letter.partition}/{letter.offset}".encode(),
                        ),
                    ],
                )
                for letter in letters
            ]
            await asyncio.gather(*futures)
        except KafkaError as exc:
            raise DeadLetterError(f"dead-letter topic {self._topic}: {exc}") from exc
        log.warning("sent %d record(s) to %s", len(letters), self._topic)

    async def __aenter__(self) -> KafkaDeadLetters:
        await self._producer.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.wait_for(self._producer.stop(), timeout=30)
