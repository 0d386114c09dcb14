"""Webhook delivery, measured on the local stack exactly as ``make run`` starts it.

Starts its own stack (Postgres/Redis as ``make run`` finds them, LocalStack on a free port,
a throwaway database, the API, a scorer worker and the webhook worker as processes), then:

* **latency**: ``--analyses`` uploads with a ``callback_url`` to a receiver on loopback
  that answers 200; for each, the time from the analysis's completion (its ``updated_at``
  in Postgres) to the receiver getting the signed request, and the signature is checked;
* **retry schedule** (``--retry``): one more analysis whose receiver always answers 500;
  when each try arrived, until the delivery is recorded as failed. With the production
  schedule (``--delays`` unset) that takes an hour.

    .venv/bin/python bench/webhooks.py                       # latency only (~1 min)
    .venv/bin/python bench/webhooks.py --retry               # + the production schedule (~61 min)
    .venv/bin/python bench/webhooks.py --retry --delays 2,4  # + a short schedule

Prints JSON (and writes it to ``--out``). Exit code 0 when every check passes.
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import statistics
import sys
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf

from realtone_core.webhooks import verify_signature
from realtone_local.procs import free_port, wait_until
from realtone_local.stack import DevStack, StackOptions

ROOT = Path(__file__).resolve().parents[1]


class Receiver:
    def __init__(self, status: int) -> None:
        self.hits: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                at = time.time()
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.hits.append(
                    {"at": at, "headers": dict(self.headers.items()), "body": body}
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"


def clip(seconds: float, seed: int) -> bytes:
    rng = np.random.default_rng(seed)
    x = 0.1 * rng.standard_normal(int(seconds * 16_000))
    buf = io.BytesIO()
    sf.write(buf, x.astype(np.float32), 16_000, format="WAV", subtype="PCM_16")
    return buf.getvalue()


def submit(api: httpx.Client, headers: dict[str, str], callback_url: str, seed: int) -> str:
    data = clip(4.0, seed)
    created = api.post(
        "/v1/analyses",
        headers=headers,
        json={
            "filename": f"bench-{seed}.wav",
            "content_type": "audio/wav",
            "size_bytes": len(data),
            "callback_url": callback_url,
        },
    )
    created.raise_for_status()
    upload = created.json()["upload"]
    posted = httpx.post(
        upload["url"], data=upload["fields"], files={"file": ("f.wav", data, "audio/wav")}
    )
    posted.raise_for_status()
    return str(created.json()["analysis"]["id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--analyses", type=int, default=10)
    parser.add_argument("--retry", action="store_true", help="also measure the retry schedule")
    parser.add_argument("--delays", help="REALTONE_WEBHOOK_RETRY_DELAYS (default: production)")
    parser.add_argument("--model", default="dev:tiny", help="scorer model (default dev:tiny)")
    parser.add_argument("--out", default=str(ROOT / ".local" / "bench-webhooks.json"))
    args = parser.parse_args(argv)
    options = StackOptions(
        localstack_port=free_port(), api_port=free_port(), private_data=True, model=args.model
    )
    checks: list[str] = []
    report: dict[str, Any] = {}
    with DevStack(options) as stack:
        if args.delays:
            stack.env["REALTONE_WEBHOOK_RETRY_DELAYS"] = args.delays
        stack.start_worker()
        stack.start_webhook_worker()
        stack.start_api()
        api = httpx.Client(base_url=stack.api_url, timeout=30)
        wait_until(
            lambda: bool(api.get("/health").json()["model"].get("name")),
            300,
            "waiting for the scorer",
        )
        credentials = {"email": f"bench-{time.time_ns()}@example.com", "password": "bench-pass"}
        api.post("/v1/auth/register", json=credentials).raise_for_status()
        headers: dict[str, str] = {}

        def log_in() -> None:
            # Access tokens live 15 minutes; the retry phase takes an hour.
            token = api.post("/v1/auth/login", json=credentials).json()["access_token"]
            headers["Authorization"] = f"Bearer {token}"

        log_in()
        ok = Receiver(200)
        latencies = []
        for seed in range(args.analyses):
            ident = submit(api, headers, ok.url, seed)
            deadline = time.monotonic() + 120
            while not [h for h in ok.hits if json.loads(h["body"])["id"] == ident]:
                if time.monotonic() > deadline:
                    checks.append(f"no delivery for {ident}")
                    break
                time.sleep(0.005)
            else:
                (hit,) = [h for h in ok.hits if json.loads(h["body"])["id"] == ident]
                document = json.loads(hit["body"])
                completed = datetime.fromisoformat(document["updated_at"]).timestamp()
                latencies.append((hit["at"] - completed) * 1000)
        # A rotated secret signs the next delivery.
        secret = api.post("/v1/account/webhook-secret", headers=headers).json()["webhook_secret"]
        ident = submit(api, headers, ok.url, 999)
        wait_until(lambda: any(json.loads(h["body"])["id"] == ident for h in ok.hits), 120, "")
        (hit,) = [h for h in ok.hits if json.loads(h["body"])["id"] == ident]
        if not verify_signature(secret, hit["headers"]["RealTone-Signature"], hit["body"]):
            checks.append("signature did not verify")
        report["latency_ms"] = {
            "n": len(latencies),
            "median": round(statistics.median(latencies), 1),
            "min": round(min(latencies), 1),
            "max": round(max(latencies), 1),
            "all": [round(v, 1) for v in latencies],
        }
        print(json.dumps(report), flush=True)
        if args.retry:
            failing = Receiver(500)
            ident = submit(api, headers, failing.url, 1000)
            started = time.monotonic()
            while True:
                answer = api.get(f"/v1/analyses/{ident}/deliveries", headers=headers)
                if answer.status_code == 401:
                    log_in()
                    continue
                items = answer.json()["items"]
                print(f"{len(failing.hits)} tries so far", end="\r", file=sys.stderr, flush=True)
                if items and items[0]["status"] != "pending":
                    break
                if time.monotonic() - started > 2 * 3600:
                    checks.append("delivery never settled")
                    break
                time.sleep(1)
            times = [h["at"] for h in failing.hits]
            report["retry"] = {
                "delays_configured": args.delays or "60,240,600,1200,1500 (production)",
                "tries": len(times),
                "offsets_s": [round(t - times[0], 1) for t in times],
                "gaps_s": [round(b - a, 1) for a, b in itertools.pairwise(times)],
                "final_status": items[0]["status"] if items else None,
                "attempts_logged": len(items[0]["attempts"]) if items else 0,
            }
            if report["retry"]["final_status"] != "failed":
                checks.append("the failing delivery was not recorded as failed")
    report["failed_checks"] = checks
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 1 if checks else 0


if __name__ == "__main__":
    sys.exit(main())
