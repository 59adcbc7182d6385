"""aiohttp's TestServer on the services' own runner (services/common/httpserver.py)."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from services.common.httpserver import CensusAppRunner


class CensusTestServer(TestServer):
    """A TestServer whose runner answers unparsable requests in Census's words, as deployed."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return CensusAppRunner(self.app, **kwargs)
