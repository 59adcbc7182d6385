"""Our partition choice is aiokafka's default partitioner's, for every key."""

from __future__ import annotations

import uuid

from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as reference_murmur2
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.partition import murmur2, partition_for


@given(st.binary(max_size=40))
def test_murmur2_is_kafkas(data: bytes) -> None:
    assert murmur2(data) & 0x7FFFFFFF == reference_murmur2(data) & 0x7FFFFFFF


@given(st.uuids(), st.integers(1, 64))
def test_partition_is_the_default_partitioners(install: uuid.UUID, count: int) -> None:
    partitions = list(range(count))
    key = install.bytes
    assert partition_for(key, partitions) == DefaultPartitioner()(key, partitions, partitions)


def test_known_value_from_kafkas_own_tests() -> None:
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2: "21" hashes to -973932308.
    assert murmur2(b"21") == -973932308 & 0xFFFFFFFF
