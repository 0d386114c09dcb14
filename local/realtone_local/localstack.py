"""LocalStack in host mode (no Docker): S3, SQS and CloudFormation on one port."""

from __future__ import annotations

import json
import tempfile
import urllib.request
from pathlib import Path

from realtone_local.procs import Child, wait_until

SERVICES = ("s3", "sqs", "cloudformation")


def localstack_python(root: Path) -> Path:
    python = root / ".venv-localstack" / "bin" / "python"
    if not python.exists():
        raise RuntimeError(
            f"LocalStack is not installed at {python.parent.parent}; run `make install`"
        )
    return python


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/_localstack/health", timeout=1) as r:
            services = json.load(r).get("services", {})
    except (OSError, ValueError):
        return False
    return all(services.get(s) in ("available", "running") for s in SERVICES)


class LocalStackProcess:
    def __init__(self, root: Path, port: int, log_dir: Path) -> None:
        self.root = root
        self.port = port
        self.log_dir = log_dir
        self.dir = Path(tempfile.mkdtemp(prefix="realtone-localstack-"))
        self.child: Child | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> str:
        env = {
            "SERVICES": ",".join(SERVICES),
            "GATEWAY_LISTEN": f"127.0.0.1:{self.port}",
            "LOCALSTACK_HOST": f"127.0.0.1:{self.port}",
            # Without hypercorn LocalStack binds 0.0.0.0 whatever GATEWAY_LISTEN says.
            "GATEWAY_SERVER": "hypercorn",
            "DNS_ADDRESS": "0",
            "DISABLE_EVENTS": "1",
            "SKIP_SSL_CERT_DOWNLOAD": "1",
            "SQS_ENDPOINT_STRATEGY": "path",
            # Otherwise it believes it runs in a container and writes to /var/lib/localstack.
            "OVERRIDE_IN_DOCKER": "0",
            "FILESYSTEM_ROOT": str(self.dir),
        }
        self.child = Child(
            "localstack",
            [str(localstack_python(self.root)), "-m", "localstack.runtime.main"],
            self.log_dir / "localstack.log",
            env=env,
        )
        wait_until(lambda: _healthy(self.port), 90, "waiting for LocalStack", self.child)
        return self.endpoint

    def stop(self) -> None:
        if self.child:
            self.child.stop()
        import shutil

        shutil.rmtree(self.dir, ignore_errors=True)
