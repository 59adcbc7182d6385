"""Settings of `census ingest`, read from CENSUS_INGEST_* (and the shared sections)."""

from __future__ import annotations

import dataclasses

from services.common.ops import OpsSettings
from services.common.settings import (
    KafkaSettings,
    LogSettings,
    Network,
    positive,
    setting,
)

COMPRESSIONS = ("gzip", "lz4", "zstd", "snappy", "none")
MIN_ID_SECRET_CHARS = 16
PUBLISHED_ID_SECRETS = frozenset({"census-local-development-only"})
"""Values of CENSUS_INGEST_ID_SECRET that were once published as a default: anyone can recompute
the keyed install ids made with them, so they are refused like a missing secret."""


@dataclasses.dataclass(frozen=True)
class IngestSettings:
    kafka: KafkaSettings = dataclasses.field(default_factory=KafkaSettings)
    log: LogSettings = dataclasses.field(default_factory=LogSettings)
    ops: OpsSettings = dataclasses.field(default_factory=OpsSettings)
    host: str = setting(
        "CENSUS_INGEST_HOST", "127.0.0.1", "public bind address (containers set 0.0.0.0)"
    )
    port: int = setting("CENSUS_INGEST_PORT", 8080, "public port: /v1/ping, /v1/batch")
    ops_port: int = setting(
        "CENSUS_INGEST_OPS_PORT", 9101, "ops port: /metrics /healthz /readyz (worker i: port+i)"
    )
    workers: int = setting(
        "CENSUS_INGEST_WORKERS", 1, "processes sharing the public port (SO_REUSEPORT)"
    )
    max_body_bytes: int = setting(
        "CENSUS_INGEST_MAX_BODY_BYTES", 1_048_576, "largest request body as sent (413 above)"
    )
    max_decompressed_bytes: int = setting(
        "CENSUS_INGEST_MAX_DECOMPRESSED_BYTES",
        4_194_304,
        "largest body after gzip decompression (413 above)",
    )
    max_batch: int = setting("CENSUS_INGEST_MAX_BATCH", 1000, "most pings in one /v1/batch")
    header_timeout_s: float = setting(
        "CENSUS_INGEST_HEADER_TIMEOUT_S",
        10.0,
        "a connection must complete its request headers within this (also the keep-alive idle time)",
    )
    body_timeout_s: float = setting(
        "CENSUS_INGEST_BODY_TIMEOUT_S", 10.0, "a request body must arrive within this (408 after)"
    )
    publish_timeout_s: float = setting(
        "CENSUS_INGEST_PUBLISH_TIMEOUT_S",
        5.0,
        "deadline for the broker's acknowledgement; 503 after it",
    )
    retry_after_s: int = setting(
        "CENSUS_INGEST_RETRY_AFTER_S", 5, "Retry-After of a 503 (Kafka unavailable or busy)"
    )
    inflight_max: int = setting(
        "CENSUS_INGEST_INFLIGHT_MAX",
        20_000,
        "pings handed to the producer and not yet acknowledged; 503 beyond it",
    )
    kafka_batch_bytes: int = setting(
        "CENSUS_INGEST_KAFKA_BATCH_BYTES", 262_144, "producer batch size per partition"
    )
    compression: str = setting(
        "CENSUS_INGEST_COMPRESSION", "none", "producer compression: " + ", ".join(COMPRESSIONS)
    )
    kafka_request_timeout_s: float = setting(
        "CENSUS_INGEST_KAFKA_REQUEST_TIMEOUT_S",
        30.0,
        "producer request timeout; an unsent record expires after it",
    )
    kafka_probe_s: float = setting(
        "CENSUS_INGEST_KAFKA_PROBE_S",
        2.0,
        "how often the broker is probed (the 503 fast path, census_ingest_kafka_connected)",
    )
    rate_per_s: float = setting(
        "CENSUS_INGEST_RATE_PER_S", 20.0, "requests per second per client address (0: no limit)"
    )
    rate_burst: float = setting(
        "CENSUS_INGEST_RATE_BURST", 100.0, "requests a client may send at once"
    )
    rate_clients: int = setting(
        "CENSUS_INGEST_RATE_CLIENTS",
        100_000,
        "client addresses remembered by the rate limiter (least recent forgotten)",
    )
    trusted_proxies: tuple[Network, ...] = setting(
        "CENSUS_TRUSTED_PROXIES",
        (),
        "proxy networks whose X-Forwarded-For is believed, e.g. 10.0.0.0/8,::1/128",
    )
    compat: bool = setting(
        "CENSUS_INGEST_COMPAT",
        True,
        "serve the /compat/* endpoints of the seed products (Pulse, Proxmox scripts, ...)",
    )
    id_secret: str = setting(
        "CENSUS_INGEST_ID_SECRET",
        "",
        "key of the keyed hash that replaces non-UUID install ids on /compat/*; required while "
        f"CENSUS_INGEST_COMPAT is on, at least {MIN_ID_SECRET_CHARS} characters "
        "(openssl rand -hex 32); keep it: a new one re-keys every compat install",
    )
    shutdown_timeout_s: float = setting(
        "CENSUS_INGEST_SHUTDOWN_TIMEOUT_S",
        20.0,
        "on SIGTERM: time to answer in-flight requests and flush the producer",
    )

    def __post_init__(self) -> None:
        for name, value in [
            ("CENSUS_INGEST_WORKERS", self.workers),
            ("CENSUS_INGEST_MAX_BODY_BYTES", self.max_body_bytes),
            ("CENSUS_INGEST_MAX_DECOMPRESSED_BYTES", self.max_decompressed_bytes),
            ("CENSUS_INGEST_MAX_BATCH", self.max_batch),
            ("CENSUS_INGEST_HEADER_TIMEOUT_S", self.header_timeout_s),
            ("CENSUS_INGEST_BODY_TIMEOUT_S", self.body_timeout_s),
            ("CENSUS_INGEST_PUBLISH_TIMEOUT_S", self.publish_timeout_s),
            ("CENSUS_INGEST_RETRY_AFTER_S", self.retry_after_s),
            ("CENSUS_INGEST_INFLIGHT_MAX", self.inflight_max),
            ("CENSUS_INGEST_KAFKA_BATCH_BYTES", self.kafka_batch_bytes),
            ("CENSUS_INGEST_KAFKA_REQUEST_TIMEOUT_S", self.kafka_request_timeout_s),
            ("CENSUS_INGEST_KAFKA_PROBE_S", self.kafka_probe_s),
            ("CENSUS_INGEST_RATE_CLIENTS", self.rate_clients),
            ("CENSUS_INGEST_SHUTDOWN_TIMEOUT_S", self.shutdown_timeout_s),
        ]:
            positive(name, value)
        for name, port in [
            ("CENSUS_INGEST_PORT", self.port),
            ("CENSUS_INGEST_OPS_PORT", self.ops_port),
        ]:
            if not 0 <= port <= 65535:
                raise ValueError(f"{name} must be a port number, got {port}")
        if self.rate_per_s < 0 or (self.rate_per_s > 0 and self.rate_burst < 1):
            raise ValueError(
                "CENSUS_INGEST_RATE_PER_S must be >= 0 and CENSUS_INGEST_RATE_BURST >= 1"
            )
        if self.compression not in COMPRESSIONS:
            raise ValueError(
                f"CENSUS_INGEST_COMPRESSION must be one of {', '.join(COMPRESSIONS)}, "
                f"got {self.compression!r}"
            )
        if self.compat:
            check_id_secret(self.id_secret)


def check_id_secret(secret: str) -> None:
    """Fail closed: without a key of its own, keyed install ids could be recomputed by anyone.
    The message names the variable and never shows the value."""
    fix = (
        "set it to a random value of your own (openssl rand -hex 32) or CENSUS_INGEST_COMPAT=false"
    )
    if not secret.strip():
        raise ValueError(f"CENSUS_INGEST_ID_SECRET is not set: {fix}")
    if secret.strip() in PUBLISHED_ID_SECRETS:
        raise ValueError(f"CENSUS_INGEST_ID_SECRET is a published default: {fix}")
    if len(secret.strip()) < MIN_ID_SECRET_CHARS:
        raise ValueError(
            f"CENSUS_INGEST_ID_SECRET is shorter than {MIN_ID_SECRET_CHARS} characters: {fix}"
        )
