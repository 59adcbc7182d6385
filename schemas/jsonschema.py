"""JSON Schema of the wire contract, generated from the Structs (never written by hand)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Final

import msgspec

from schemas.ping import Ping

PING_SCHEMA_PATH: Final = Path(__file__).with_name("ping.schema.json")


def ping_json_schema() -> dict[str, Any]:
    return msgspec.json.schema(Ping)


def render() -> str:
    return json.dumps(ping_json_schema(), indent=2, sort_keys=True) + "\n"


def main() -> int:
    """`python -m schemas.jsonschema [--check]`: write schemas/ping.schema.json, or check it."""
    text = render()
    if "--check" in sys.argv[1:]:
        if not PING_SCHEMA_PATH.exists() or PING_SCHEMA_PATH.read_text() != text:
            print(f"{PING_SCHEMA_PATH} is stale: run python -m schemas.jsonschema", file=sys.stderr)
            return 1
        return 0
    PING_SCHEMA_PATH.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
