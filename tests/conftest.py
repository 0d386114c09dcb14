"""Shared fixtures. ``stack`` starts Postgres/Redis/LocalStack once per session, only when an
integration or e2e test asks for it (``make test-unit`` needs none of it)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from realtone_local.procs import free_port
from realtone_local.stack import DevStack, StackOptions


def _clear_caches() -> None:
    from realtone_api.deps import get_services
    from realtone_api.settings import get_settings as api_settings
    from realtone_scorer.runtime import get_fair_share, get_runtime, get_scorer
    from realtone_scorer.settings import get_settings as scorer_settings

    for cached in (
        api_settings,
        scorer_settings,
        get_services,
        get_runtime,
        get_scorer,
        get_fair_share,
    ):
        cached.cache_clear()


@pytest.fixture(scope="session")
def stack() -> Iterator[DevStack]:
    # Tests always use the tiny built-in model, whatever `make demo-model` has built.
    options = StackOptions(
        localstack_port=free_port(), api_port=free_port(), private_data=True, model="dev:tiny"
    )
    saved = dict(os.environ)
    with DevStack(options) as running:
        os.environ.update(running.env)
        _clear_caches()
        yield running
    os.environ.clear()
    os.environ.update(saved)
    _clear_caches()
