"""The one place the environment is read: `CENSUS_*` variables into frozen dataclasses.

A settings class is a frozen dataclass whose fields are declared with `setting(...)` (a variable
name, a default and a line of help) or are themselves settings classes (sections).
"""

from __future__ import annotations

import argparse
import dataclasses
import ipaddress
import logging
import os
import types
import typing
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class SettingsError(ValueError):
    """A variable has a value that cannot be used; the message is one line naming it."""


def setting(env: str, default: Any, help: str) -> Any:
    """Declare a dataclass field read from the environment variable `env`."""
    if isinstance(default, list | dict | set):
        raise TypeError("use a tuple for a sequence default")
    return dataclasses.field(default=default, metadata={"env": env, "help": help})


def _parse_bool(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("expected true or false")


def _split(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def _parse(raw: str, kind: Any) -> Any:
    origin = typing.get_origin(kind)
    if origin in (types.UnionType, typing.Union):
        args = [a for a in typing.get_args(kind) if a is not type(None)]
        if raw.strip() == "":
            return None
        if args == [ipaddress.IPv4Network, ipaddress.IPv6Network]:
            return ipaddress.ip_network(raw.strip(), strict=False)
        return _parse(raw, args[0])
    if origin is tuple:
        (item, _ellipsis) = typing.get_args(kind)
        return tuple(_parse(part, item) for part in _split(raw))
    if kind is bool:
        return _parse_bool(raw)
    if kind is int:
        return int(raw.strip())
    if kind is float:
        return float(raw.strip())
    if kind is Path:
        return Path(raw.strip())
    if kind is str:
        return raw
    if kind == Network:
        return ipaddress.ip_network(raw.strip(), strict=False)
    raise TypeError(f"no parser for settings of type {kind!r}")


def _is_section(kind: Any) -> bool:
    return isinstance(kind, type) and dataclasses.is_dataclass(kind)


def load(cls: type[T], environ: Mapping[str, str] | None = None) -> T:
    """Read `cls` from `environ` (default: os.environ); raises SettingsError on a bad value."""
    env = os.environ if environ is None else environ
    hints = typing.get_type_hints(cls)
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):  # type: ignore[arg-type]
        kind = hints[field.name]
        if _is_section(kind):
            values[field.name] = load(kind, env)
            continue
        name = field.metadata.get("env")
        if name is None or name not in env:
            continue
        try:
            values[field.name] = _parse(env[name], kind)
        except ValueError as exc:
            raise SettingsError(f"{name}={env[name]!r}: {exc}") from None
    try:
        return cls(**values)
    except ValueError as exc:
        raise SettingsError(str(exc)) from None


def unknown_variables(
    cls: type[Any],
    prefix: str,
    environ: Mapping[str, str] | None = None,
    *,
    others: frozenset[str] = frozenset(),
) -> list[str]:
    """Variables named like `cls`'s own (`prefix`) that it does not read, apart from `others`
    that other commands read: a typo, or a setting an older release had. They are ignored, so a
    service says so at start."""
    env = os.environ if environ is None else environ
    known = {doc.env for doc in describe(cls)} | others
    return sorted(name for name in env if name.startswith(prefix) and name not in known)


def warn_unknown_variables(
    cls: type[Any], prefix: str, log: logging.Logger, *, others: frozenset[str] = frozenset()
) -> None:
    for name in unknown_variables(cls, prefix, others=others):
        log.warning("%s is not a setting of this release; ignored", name)


@dataclasses.dataclass(frozen=True)
class SettingDoc:
    env: str
    default: str
    help: str


def _render_default(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def describe(cls: type[Any]) -> Iterator[SettingDoc]:
    """Every variable `cls` reads, with its default and help, for `--help`."""
    hints = typing.get_type_hints(cls)
    for field in dataclasses.fields(cls):
        kind = hints[field.name]
        if _is_section(kind):
            yield from describe(kind)
        elif "env" in field.metadata:
            yield SettingDoc(
                field.metadata["env"], _render_default(field.default), field.metadata["help"]
            )


def help_epilog(cls: type[Any]) -> str:
    """A table of the variables of `cls` for an argparse epilog."""
    docs = list(describe(cls))
    width = max(len(d.env) for d in docs)
    lines = ["environment (default in brackets):"]
    lines += [f"  {d.env:<{width}}  {d.help} [{d.default}]" for d in docs]
    return "\n".join(lines)


def command_parser(prog: str, description: str, settings: type[Any]) -> argparse.ArgumentParser:
    """The argument parser of a `census` command; its --help ends with every variable it reads."""
    return argparse.ArgumentParser(
        prog=prog,
        description=description,
        epilog=help_epilog(settings),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def positive(name: str, value: float) -> None:
    """Validation helper for __post_init__: one line naming the variable."""
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


# Sections every service shares.


@dataclasses.dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = setting("CENSUS_KAFKA_BOOTSTRAP", "127.0.0.1:19092", "Kafka bootstrap servers")
    topic: str = setting("CENSUS_KAFKA_TOPIC", "census.pings.v1", "topic of validated pings")
    dlq_topic: str = setting("CENSUS_KAFKA_DLQ_TOPIC", "census.pings.dlq.v1", "dead-letter topic")
    partitions: int = setting("CENSUS_KAFKA_PARTITIONS", 12, "partitions when creating the topic")
    retention_ms: int = setting(
        "CENSUS_KAFKA_RETENTION_MS", 7 * 24 * 3600 * 1000, "retention.ms when creating the topic"
    )

    replication_factor: int = setting(
        "CENSUS_KAFKA_REPLICATION_FACTOR",
        1,
        "replication factor when creating topics (3 in production)",
    )

    def __post_init__(self) -> None:
        positive("CENSUS_KAFKA_PARTITIONS", self.partitions)
        positive("CENSUS_KAFKA_REPLICATION_FACTOR", self.replication_factor)
        positive("CENSUS_KAFKA_RETENTION_MS", self.retention_ms)


@dataclasses.dataclass(frozen=True)
class PostgresSettings:
    dsn: str = setting(
        "CENSUS_PG_DSN", "postgresql://census@127.0.0.1:25432/census", "PostgreSQL connection URL"
    )
    connect_timeout_s: float = setting("CENSUS_PG_CONNECT_TIMEOUT_S", 5.0, "connect timeout")

    def __post_init__(self) -> None:
        if not self.dsn.startswith(("postgresql://", "postgres://")):
            raise ValueError("CENSUS_PG_DSN must be a postgresql:// URL")
        positive("CENSUS_PG_CONNECT_TIMEOUT_S", self.connect_timeout_s)


@dataclasses.dataclass(frozen=True)
class LogSettings:
    level: str = setting("CENSUS_LOG_LEVEL", "INFO", "log level")
    format: str = setting("CENSUS_LOG_FORMAT", "text", "text or json (one object per line)")

    def __post_init__(self) -> None:
        if self.format not in {"text", "json"}:
            raise ValueError(f"CENSUS_LOG_FORMAT must be text or json, got {self.format!r}")
        if self.level.upper() not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"CENSUS_LOG_LEVEL is not a level: {self.level!r}")


@dataclasses.dataclass(frozen=True)
class HorizonSettings:
    """How many UTC days of rows are kept (today counts as one). The retention worker drops what
    lies past them; the aggregator writes nothing there, so a replay never recreates a dropped
    partition. Every service that reads them must see the same values."""

    install_days: int = setting(
        "CENSUS_RETENTION_INSTALL_DAYS", 90, "days kept of rows holding an install_id"
    )
    rollup_days: int = setting(
        "CENSUS_RETENTION_ROLLUP_DAYS", 400, "days kept of anonymous rollups"
    )

    def __post_init__(self) -> None:
        positive("CENSUS_RETENTION_INSTALL_DAYS", self.install_days)
        positive("CENSUS_RETENTION_ROLLUP_DAYS", self.rollup_days)
