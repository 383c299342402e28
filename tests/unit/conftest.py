"""Fixtures for the core's unit tests (helpers live in ``core_world``)."""

from __future__ import annotations

import pytest
from core_world import World, make_world


@pytest.fixture
async def world() -> World:
    return await make_world()
