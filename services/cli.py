"""The `census` command: one subcommand per deployable, each imported only when it runs."""

from __future__ import annotations

import importlib
import sys
from typing import Final

# Subcommand -> (module with `main(argv) -> int`, one line of help). Modules are imported lazily so
# one service's dependencies and start-up cost never reach another.
COMMANDS: Final = {
    "ingest": ("services.ingest.main", "the HTTP gateway: validate pings, publish to Kafka"),
    "aggregate": ("services.aggregator.main", "Kafka -> PostgreSQL rollups, exactly once"),
    "retention": ("services.retention.main", "partition maintenance and the 90-day purge"),
    "dashboard": (
        "services.dashboard.main",
        "the read side: pages, JSON API, gauges (k-anonymous)",
    ),
    "migrate": ("services.migrate.main", "apply the SQL migrations in schemas/sql"),
    "fleet": ("services.fleet.main", "a simulated fleet sending pings to an ingest URL"),
    "explain": (
        "services.ingest.explain",
        "what ingest would keep, derive and drop of one payload (PRODUCT FILE|-)",
    ),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    lines = ["usage: census <command> [--help] [options]", "", "commands:"]
    lines += [f"  {name:<{width}}  {text}" for name, (_, text) in COMMANDS.items()]
    lines += [
        "",
        "Configuration is read from CENSUS_* environment variables; see census <command> --help.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] in {"-h", "--help", "help"}:
        print(usage())
        return 0 if args else 2
    name, rest = args[0], args[1:]
    if name not in COMMANDS:
        print(f"census: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, _ = COMMANDS[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name:
            raise
        print(f"census: '{name}' is not part of this build yet", file=sys.stderr)
        return 2
    code: int = module.main(rest)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
