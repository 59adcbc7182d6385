"""The real Kafka and PostgreSQL the integration tests run against.

By default the suite starts its own stack from deploy/local/ on ports and directories of its own
(so a running `make up` stack is left alone) and stops it at the end. Setting
CENSUS_TEST_KAFKA_BOOTSTRAP and CENSUS_TEST_PG_DSN reuses servers someone else runs instead.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from tests.support.ports import SUITE, StackPorts

ROOT: Final = Path(__file__).resolve().parents[2]
LOCAL: Final = ROOT / "deploy" / "local"


@dataclass
class LocalStack:
    """Controls the test stack's servers through the deploy/local scripts."""

    local_dir: Path = ROOT / ".local" / "test"
    kafka_port: int = SUITE.kafka
    kafka_controller_port: int = SUITE.kafka_controller
    pg_port: int = SUITE.pg
    started: list[str] = field(default_factory=list)

    @classmethod
    def private(cls, name: str, ports: StackPorts) -> LocalStack:
        """A stack of one test module's own, in .local/<name> on `ports`."""
        return cls(
            local_dir=ROOT / ".local" / name,
            kafka_port=ports.kafka,
            kafka_controller_port=ports.kafka_controller,
            pg_port=ports.pg,
        )

    @property
    def env(self) -> dict[str, str]:
        return {
            **os.environ,
            "CENSUS_LOCAL_DIR": str(self.local_dir),
            "CENSUS_KAFKA_PORT": str(self.kafka_port),
            "CENSUS_KAFKA_CONTROLLER_PORT": str(self.kafka_controller_port),
            "CENSUS_PG_PORT": str(self.pg_port),
            "CENSUS_KAFKA_HEAP": os.environ.get("CENSUS_KAFKA_HEAP", "512m"),
        }

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    def dsn(self, database: str = "census", user: str = "census") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.pg_port}/{database}"

    def _script(self, name: str, action: str) -> None:
        result = subprocess.run(
            [str(LOCAL / name), action], env=self.env, capture_output=True, text=True, timeout=300
        )
        if result.returncode != 0:
            raise RuntimeError(f"{name} {action} failed:\n{result.stdout}\n{result.stderr}")

    def start_kafka(self) -> None:
        self._script("kafka.sh", "start")

    def stop_kafka(self) -> None:
        self._script("kafka.sh", "stop")

    def start_postgres(self) -> None:
        self._script("postgres.sh", "start")

    def stop_postgres(self) -> None:
        self._script("postgres.sh", "stop")

    def up(self) -> None:
        self.start_postgres()
        self.start_kafka()

    def down(self) -> None:
        errors: list[str] = []
        for stop in (self.stop_kafka, self.stop_postgres):
            try:
                stop()
            except RuntimeError as exc:
                errors.append(str(exc))
        if errors:
            raise RuntimeError("\n".join(errors))


@dataclass(frozen=True)
class StackEndpoints:
    """Where the integration tests find Kafka and PostgreSQL; `stack` is None when reused."""

    bootstrap: str
    admin_dsn: str
    stack: LocalStack | None

    def dsn(self, database: str, user: str | None = None) -> str:
        base, _, _ = self.admin_dsn.rpartition("/")
        if user is not None:
            scheme, _, rest = base.partition("://")
            base = f"{scheme}://{user}@{rest.rpartition('@')[2]}"
        return f"{base}/{database}"
