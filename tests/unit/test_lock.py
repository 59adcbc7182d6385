"""The install is reproducible: every dependency comes from a committed lock, pinned and hashed."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Final

from tests.support.stack import ROOT

_PIN: Final = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)", re.M)
_NAME: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")


def _canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lock: Path) -> dict[str, str]:
    return {_canonical(name): version for name, version in _PIN.findall(lock.read_text())}


def _requirement_names(requirements: list[str]) -> set[str]:
    names: set[str] = set()
    for requirement in requirements:
        match = _NAME.match(requirement)
        assert match is not None, requirement
        names.add(_canonical(match.group()))
    return names


def _project() -> dict[str, object]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]  # type: ignore[no-any-return]


def test_every_requirement_of_every_extra_is_pinned_in_the_lock() -> None:
    project = _project()
    wanted = _requirement_names(project["dependencies"])  # type: ignore[arg-type]
    for extra in project["optional-dependencies"].values():  # type: ignore[attr-defined]
        wanted |= _requirement_names(extra)
    missing = wanted - set(_pins(ROOT / "requirements.lock"))
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run `make lock`"


def test_every_pin_carries_a_hash() -> None:
    for lock in ("requirements.lock", "requirements-runtime.lock"):
        text = (ROOT / lock).read_text()
        entries = re.split(r"\n(?=[A-Za-z0-9])", text.split("\n\n", 1)[-1])
        for entry in entries:
            if _PIN.match(entry):
                assert "--hash=sha256:" in entry, f"{lock}: {entry.splitlines()[0]} has no hash"


def test_the_build_backend_is_locked_too() -> None:
    # `pip install --no-build-isolation -e .` builds with what the lock installed.
    assert "setuptools" in _pins(ROOT / "requirements.lock")
    assert "setuptools" in _pins(ROOT / "requirements-runtime.lock")


def test_the_runtime_lock_is_a_subset_of_the_full_lock_at_the_same_versions() -> None:
    full = _pins(ROOT / "requirements.lock")
    runtime = _pins(ROOT / "requirements-runtime.lock")
    assert runtime, "requirements-runtime.lock pins nothing"
    differing = {name: (v, full.get(name)) for name, v in runtime.items() if full.get(name) != v}
    assert not differing, f"the image would install other versions than the tests ran: {differing}"
    runtime_wanted = _requirement_names(_project()["dependencies"])  # type: ignore[arg-type]
    assert runtime_wanted <= set(runtime)


def test_installs_use_the_lock_never_open_ranges() -> None:
    makefile = (ROOT / "Makefile").read_text()
    assert "--require-hashes --no-deps -r requirements.lock" in makefile
    assert "pip install -q -e '.[" not in makefile
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "--require-hashes --no-deps -r requirements-runtime.lock" in dockerfile
    assert re.search(r"pip install (?!--)", dockerfile) is None, "an unlocked pip install"
