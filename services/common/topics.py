"""Creating the Kafka topics a service needs, if they are missing."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    partitions: int
    retention_ms: int
    replication_factor: int = 1


async def ensure_topics(bootstrap: str, specs: list[TopicSpec], *, timeout_s: float = 30.0) -> None:
    """Create each topic that does not exist yet; an existing one is left as it is."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in specs if s.name not in existing]
        if not missing:
            return
        try:
            await admin.create_topics(
                [
                    NewTopic(
                        s.name,
                        num_partitions=s.partitions,
                        replication_factor=s.replication_factor,
                        topic_configs={"retention.ms": str(s.retention_ms)},
                    )
                    for s in missing
                ]
            )
        except TopicAlreadyExistsError:
            pass  # another replica created it between our list and our create
        log.info("created topics %s", ", ".join(s.name for s in missing))
    finally:
        await admin.close()
