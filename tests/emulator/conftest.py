"""Fixtures for the emulator's own tests: real HTTP against a real emulator process.

These tests need no Django; they only use ``gmi_emulator`` and ``requests``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from gmi_emulator.testing import EmulatorClient, EmulatorProcess  # noqa: E402


@pytest.fixture(scope="session")
def emulator() -> Iterator[EmulatorProcess]:
    """One emulator for the directory: short timings, reset before every test."""
    with EmulatorProcess(api_key="test-key", queue_seconds=0.2, processing_seconds=3, seed=1234) as emu:
        yield emu


@pytest.fixture(autouse=True)
def _test_environment() -> None:
    """Overrides the project-wide autouse fixture of the same name: these tests need no Django or Redis."""


@pytest.fixture(autouse=True)
def _reset_emulator(emulator: EmulatorProcess) -> None:
    emulator.reset()


@pytest.fixture
def api(emulator: EmulatorProcess) -> Iterator[EmulatorClient]:
    client = EmulatorClient(emulator)
    yield client
    client.close()
