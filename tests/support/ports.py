"""The fixed loopback ports of the suite's own servers, all in one place.

Every port here lies below Linux's ephemeral range (32768-60999 by default): a server port inside
that range can already be held by some client socket's local end (a connection to Kafka, say),
and then the server cannot bind it. That failed a fresh-machine CI run once (PostgreSQL on 56532).
tests/unit/test_ports.py holds every port here, and the local stack's defaults, to that rule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Final


@dataclass(frozen=True)
class StackPorts:
    """Where one private stack listens: Kafka's broker and controller, and PostgreSQL."""

    kafka: int
    kafka_controller: int
    pg: int

    def all(self) -> tuple[int, int, int]:
        return (self.kafka, self.kafka_controller, self.pg)


SUITE: Final = StackPorts(
    kafka=int(os.environ.get("CENSUS_TEST_KAFKA_PORT", "29092")),
    kafka_controller=int(os.environ.get("CENSUS_TEST_KAFKA_CONTROLLER_PORT", "29093")),
    pg=int(os.environ.get("CENSUS_TEST_PG_PORT", "26432")),
)
"""The suite's shared stack (tests/conftest.py), unless CENSUS_TEST_* name running servers."""

INGEST_OUTAGE: Final = StackPorts(kafka=29192, kafka_controller=29193, pg=26499)
PG_OUTAGE: Final = StackPorts(kafka=29292, kafka_controller=29293, pg=26532)
FAULTS: Final = StackPorts(kafka=29392, kafka_controller=29393, pg=26732)
STACK_CYCLE: Final = StackPorts(kafka=29492, kafka_controller=29493, pg=26832)

PRIVATE_STACKS: Final = (SUITE, INGEST_OUTAGE, PG_OUTAGE, FAULTS, STACK_CYCLE)
