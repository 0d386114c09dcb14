"""Each function reads only what it uses, and the region is the one the platform says."""

from __future__ import annotations

import pytest

from realtone_api.settings import ApiSettings
from realtone_core.config import ConfigError, CoreSettings, MigrationSettings, SweepSettings
from realtone_scorer.settings import ScorerSettings


@pytest.fixture
def environment(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "REALTONE_AWS_REGION", "REALTONE_ENV"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REALTONE_ENV", "prod")
    monkeypatch.setenv("REALTONE_BUCKET", "realtone-audio-123456789012-eu-west-3")
    monkeypatch.setenv("REALTONE_QUEUE_URL", "https://sqs.eu-west-3.amazonaws.com/1/q")
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    return monkeypatch


def test_the_scorer_starts_in_prod_without_a_jwt_secret(environment):
    environment.delenv("REALTONE_JWT_SECRET", raising=False)
    settings = ScorerSettings.load()
    assert settings.env == "prod"
    SweepSettings.load()
    # The API does need one, and says which variable.
    with pytest.raises(ConfigError, match="REALTONE_JWT_SECRET"):
        ApiSettings.load()


def test_the_region_comes_from_aws_region_unless_overridden(environment):
    assert CoreSettings.load().aws_region == "eu-west-3"
    environment.setenv("REALTONE_AWS_REGION", "ap-southeast-2")
    assert CoreSettings.load().aws_region == "ap-southeast-2"


def test_no_region_at_all_stops_the_process_naming_the_variables(environment):
    environment.delenv("AWS_REGION")
    with pytest.raises(ConfigError, match="AWS_REGION"):
        CoreSettings.load()


def test_a_bad_value_names_its_variable(environment):
    environment.setenv("REALTONE_BATCH_SIZE", "many")
    with pytest.raises(ConfigError, match="REALTONE_BATCH_SIZE"):
        ScorerSettings.load()


def test_migrations_need_only_the_database(monkeypatch):
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "REALTONE_AWS_REGION", "REALTONE_BUCKET"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("REALTONE_DATABASE_URL", "postgresql://db.example/realtone")
    assert MigrationSettings.load().database_url == "postgresql://db.example/realtone"


def test_the_sweep_needs_the_queue(environment):
    environment.delenv("REALTONE_QUEUE_URL")
    with pytest.raises(ConfigError, match="REALTONE_QUEUE_URL"):
        SweepSettings.load()
    assert CoreSettings.load().queue_url is None


def test_an_api_started_by_hand_without_an_environment_refuses_the_public_secret():
    import os
    import subprocess
    import sys

    env = {
        "PATH": os.environ["PATH"],
        "AWS_REGION": "eu-west-3",
        "REALTONE_BUCKET": "realtone-audio-test",
        "REALTONE_QUEUE_URL": "https://sqs.eu-west-3.amazonaws.com/1/q",
    }
    started = subprocess.run(
        [sys.executable, "-c", "import realtone_api.main"], env=env, capture_output=True, text=True
    )
    assert started.returncode != 0
    assert "REALTONE_JWT_SECRET" in started.stderr and "REALTONE_ENV is unset" in started.stderr
    explicit = subprocess.run(
        [sys.executable, "-c", "import realtone_api.main"],
        env={**env, "REALTONE_ENV": "dev"},
        capture_output=True,
        text=True,
    )
    assert explicit.returncode == 0, explicit.stderr
