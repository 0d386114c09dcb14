"""Every entry point starts with exactly the environment ``template.yaml`` gives it.

Each function runs in a fresh process whose environment is the template's (Globals merged,
``!Ref``/``!Sub`` resolved to realistic production values, secrets as long random strings,
``REALTONE_ENV=prod``) plus what the platform adds (Lambda: ``AWS_REGION`` and the function
name; ECS on EC2: nothing, so the task definition must say the region), in a region other
than us-east-1. The only test-made addition is ``AWS_ENDPOINT_URL``, the SDK's own variable,
pointing the AWS clients at LocalStack. "Works locally, cannot start on AWS" fails here.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from realtone_core.models import Status
from realtone_core.webhooks import WebhookQueue, WebhookStore, dispatch
from realtone_local.resources import load_template
from realtone_local.stack import REGION, ROOT, DevStack
from realtone_local.template_env import Deployment, function_environment, task_environment
from realtone_scorer.worker import to_lambda_event
from tests.audio import wav_bytes
from tests.events import load_event
from tests.integration.conftest import QueueProbe, cfn_event, upload_via_post

pytestmark = pytest.mark.integration

TEMPLATE = load_template(ROOT / "template.yaml")
# LocalStack's account: the template's bucket name then names the bucket it deployed.
ACCOUNT = "000000000000"


def image_environment(dockerfile: str) -> dict[str, str]:
    """The ``ENV`` lines of a Dockerfile (the image's own variables), minus its paths."""
    variables: dict[str, str] = {}
    for line in (ROOT / "functions" / "scorer" / dockerfile).read_text().splitlines():
        if line.startswith("ENV "):
            variables.update(re.findall(r"(\w+)=(\S+)", line))
    variables.pop("PYTHONPATH", None)  # the image's layout; here the package is installed
    return variables


@pytest.fixture(scope="module")
def deployment(stack: DevStack) -> Deployment:
    queue_url = stack.outputs["ScoreQueueUrl"]
    resolved = Deployment(
        region=REGION,
        account_id=ACCOUNT,
        parameters={"AllowedOrigins": "https://realtone.example.org"},
        resources={
            "ScoreQueue": queue_url,
            "HeavyScoreQueue": stack.outputs["HeavyScoreQueueUrl"],
            "ScoreDeadLetterQueue": stack.outputs["ScoreDeadLetterQueueUrl"],
            "WebhookQueue": stack.outputs["WebhookQueueUrl"],
            "AudioBucket": stack.outputs["AudioBucketName"],
            "CommonLayer": f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:common:1",
        },
        attributes={
            "StreamFunctionUrl.FunctionUrl": f"https://abc123.lambda-url.{REGION}.on.aws/",
            "ScoreQueue.Arn": stack.outputs["ScoreQueueArn"],
            "ScoreQueue.QueueName": queue_url.rsplit("/", 1)[1],
        },
        secrets={
            "realtone/database-url": stack.env["REALTONE_DATABASE_URL"],
            "realtone/redis-url": stack.env["REALTONE_REDIS_URL"],
            "realtone/jwt-secret": secrets.token_urlsafe(48),
        },
    )
    assert REGION != "us-east-1"
    return resolved


def platform(stack: DevStack, **extra: str) -> dict[str, str]:
    """What every process has besides its configured variables."""
    return {
        "PATH": os.environ["PATH"],
        "LANG": "C.UTF-8",
        "AWS_ACCESS_KEY_ID": "boot-test",
        "AWS_SECRET_ACCESS_KEY": "boot-test",
        "AWS_ENDPOINT_URL": stack.env["REALTONE_AWS_ENDPOINT_URL"],
        **extra,
    }


def lambda_environment(stack: DevStack, deployment: Deployment, function: str) -> dict[str, str]:
    configured = function_environment(TEMPLATE, function, deployment)
    assert "REALTONE_AWS_ENDPOINT_URL" not in configured
    return {
        **platform(
            stack,
            AWS_REGION=REGION,
            AWS_DEFAULT_REGION=REGION,
            AWS_LAMBDA_FUNCTION_NAME=f"realtone-{function}",
        ),
        **configured,
    }


def invoke(
    env: dict[str, str], target: str, events: list[dict[str, Any]], tmp_path: Path
) -> list[Any]:
    """A cold start of ``target`` in a fresh process, then one call per event."""
    name = uuid.uuid4().hex[:8]
    events_file, out_file = tmp_path / f"{name}-events.json", tmp_path / f"{name}-out.json"
    events_file.write_text(json.dumps(events))
    done = subprocess.run(
        [sys.executable, "-m", "tests.boot.runner", target, str(events_file), str(out_file)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    responses: list[Any] = json.loads(out_file.read_text())
    return responses


def body(response: dict[str, Any]) -> Any:
    return json.loads(response["body"])


def test_the_template_names_the_local_bucket(deployment, stack):
    bucket = function_environment(TEMPLATE, "ApiFunction", deployment)["REALTONE_BUCKET"]
    assert bucket == stack.outputs["AudioBucketName"] == f"realtone-audio-{ACCOUNT}-{REGION}"


def test_api_boots_in_prod_through_mangum(stack, deployment, tmp_path):
    env = lambda_environment(stack, deployment, "ApiFunction")
    assert env["REALTONE_ENV"] == "prod" and len(env["REALTONE_JWT_SECRET"]) >= 32
    email = f"boot-{uuid.uuid4().hex[:8]}@example.com"
    register, login, health = invoke(
        env,
        "realtone_api.main:handler",
        [
            load_event("api-register.json", EMAIL=email),
            load_event("api-login.json", EMAIL=email),
            load_event("api-health.json"),
        ],
        tmp_path,
    )
    assert register["statusCode"] == 201, register
    assert login["statusCode"] == 200, login
    assert health["statusCode"] == 200 and body(health)["status"] == "ok", health
    token = body(login)["access_token"]
    created, listed = invoke(
        env,
        "realtone_api.main:handler",
        [
            load_event("api-create-analysis.json", ACCESS_TOKEN=token),
            load_event("api-list-analyses.json", ACCESS_TOKEN=token),
        ],
        tmp_path,
    )
    assert created["statusCode"] == 201, created
    assert listed["statusCode"] == 200
    upload = body(created)["upload"]
    # Signed for the region the platform named, and the page allows uploads to it.
    assert f"/{REGION}/s3/aws4_request" in upload["fields"]["x-amz-credential"]
    csp = created["headers"]["content-security-policy"]
    assert f".s3.{REGION}.amazonaws.com" in csp and "us-east-1" not in csp
    # The page may open event streams on StreamFunction's URL.
    assert f"https://abc123.lambda-url.{REGION}.on.aws" in csp
    # The policy it signed works: the upload lands.
    assert upload_via_post(upload, wav_bytes(2.0), "audio/wav").status_code == 204


def test_scorer_lambda_boots_and_scores_an_sqs_event(
    stack, deployment, services, queue: QueueProbe, client, new_user, tmp_path
):
    env = {
        **lambda_environment(stack, deployment, "ScorerFunction"),
        **image_environment("Dockerfile"),
    }
    assert "REALTONE_JWT_SECRET" not in env and env["REALTONE_ENV"] == "prod"
    headers = new_user()
    data = wav_bytes(6.0, seed=11)
    created = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "boot.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    assert upload_via_post(created["upload"], data, "audio/wav").status_code == 204
    ident = created["analysis"]["id"]
    event = to_lambda_event(queue.wait_for_key(ident), stack.outputs["ScoreQueueArn"], REGION)
    (response,) = invoke(env, "realtone_scorer.handler:lambda_handler", [event], tmp_path)
    assert response == {"batchItemFailures": []}
    record = services.analyses.get(uuid.UUID(ident))
    assert record.status == Status.COMPLETED and len(services.analyses.chunks(record.id)) == 2


def test_gpu_worker_boots_from_its_task_definition(
    stack, deployment, services, client, new_user, queue: QueueProbe, tmp_path
):
    queue.drain()
    task = task_environment(TEMPLATE, "GpuTaskDefinition", "scorer", deployment)
    # ECS on EC2 sets no AWS_REGION: the task definition itself must say it.
    env = {**platform(stack), **task, **image_environment("Dockerfile.gpu")}
    assert env.get("AWS_REGION") == REGION
    log = (tmp_path / "worker.log").open("w")
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "realtone_scorer.worker",
            "--batch-size",
            "10",
            "--wait-seconds",
            "1",
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        headers = new_user()
        data = wav_bytes(5.0, seed=12)
        created = client.post(
            "/v1/analyses",
            headers=headers,
            json={"filename": "gpu.wav", "content_type": "audio/wav", "size_bytes": len(data)},
        ).json()
        assert upload_via_post(created["upload"], data, "audio/wav").status_code == 204
        ident = uuid.UUID(created["analysis"]["id"])
        deadline = time.monotonic() + 90
        while services.analyses.get(ident).status != Status.COMPLETED:
            assert worker.poll() is None, (tmp_path / "worker.log").read_text()[-4000:]
            assert time.monotonic() < deadline, (tmp_path / "worker.log").read_text()[-4000:]
            time.sleep(0.5)
    finally:
        worker.send_signal(signal.SIGTERM)
        code = worker.wait(timeout=60)
        log.close()
    assert code == 0, (tmp_path / "worker.log").read_text()[-4000:]


def test_sweep_function_boots_and_sweeps(stack, deployment, tmp_path):
    env = lambda_environment(stack, deployment, "SweepFunction")
    assert "REALTONE_JWT_SECRET" not in env
    scheduled = {"source": "aws.events", "detail-type": "Scheduled Event", "detail": {}}
    (report,) = invoke(env, "realtone_api.sweep_handler:handler", [scheduled], tmp_path)
    assert set(report) == {
        "expired",
        "requeued",
        "failed",
        "late_objects_deleted",
        "audio_deleted",
        "webhooks_queued",
    }


def test_webhook_function_boots_and_applies_the_production_url_rules(
    stack, deployment, services, client, new_user, response_url, tmp_path
):
    """In prod (https only, no loopback) a delivery to a loopback receiver is refused at
    delivery time: the try is logged and its message hidden until the next one is due."""
    env = lambda_environment(stack, deployment, "WebhookFunction")
    assert env["REALTONE_ENV"] == "prod" and "REALTONE_JWT_SECRET" not in env
    assert env["REALTONE_WEBHOOK_QUEUE_URL"] == stack.outputs["WebhookQueueUrl"]
    assert env["REALTONE_WEBHOOK_RETRY_DELAYS"] == "60,240,600,1200,1500"
    queue_url = env["REALTONE_WEBHOOK_QUEUE_URL"]
    receiver_url, received = response_url
    headers = new_user()
    created = client.post(
        "/v1/analyses",
        headers=headers,
        json={
            "filename": "boot.wav",
            "content_type": "audio/wav",
            "size_bytes": 100,
            # Accepted by the dev API of the tests (loopback allowed there).
            "callback_url": receiver_url,
        },
    )
    assert created.status_code == 201, created.text
    ident = uuid.UUID(created.json()["analysis"]["id"])
    services.analyses.fail(ident, "internal_error", "boot test")
    store = WebhookStore(services.db)
    while msgs := services.sqs.receive_message(QueueUrl=queue_url).get("Messages"):
        for m in msgs:
            services.sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])
    (delivery_id,) = dispatch(store, WebhookQueue(services.sqs, queue_url), ident)
    # Messages hidden by earlier tests' retries may come back meanwhile: look for ours.
    ours: list[Any] = []
    for _ in range(5):
        ours = ours or _messages_of(services.sqs, queue_url, delivery_id, wait=2)
    (message,) = ours
    arn = services.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    event = to_lambda_event([message], arn["Attributes"]["QueueArn"], REGION)
    (response,) = invoke(env, "realtone_api.webhook_handler:handler", [event], tmp_path)
    assert response == {"batchItemFailures": [{"itemIdentifier": message["MessageId"]}]}
    assert received == []
    (logged,) = store.for_analysis(ident)
    assert logged.id == delivery_id and logged.status == "pending"
    (attempt,) = logged.attempts
    assert attempt.error is not None and attempt.error.startswith("refused: Only https")
    # Hidden until the next try (about a minute in production).
    assert attempt.next_retry_at is not None
    assert _messages_of(services.sqs, queue_url, delivery_id, wait=0) == []


def test_migrations_resource_boots_and_answers_cloudformation(
    stack, deployment, response_url, tmp_path
):
    env = lambda_environment(stack, deployment, "MigrationsFunction")
    url, received = response_url
    invoke(env, "realtone_api.migrations_resource:handler", [cfn_event(url, "Update")], tmp_path)
    assert [r["Status"] for r in received] == ["SUCCESS"], received


def test_every_function_of_the_template_is_booted_here():
    functions = {
        name
        for name, resource in TEMPLATE["Resources"].items()
        if resource["Type"] == "AWS::Serverless::Function"
    }
    booted = {
        "ApiFunction",
        "ScorerFunction",
        "SweepFunction",
        "MigrationsFunction",
        "StreamFunction",
        "WebhookFunction",
    }
    assert functions == booted
    tasks = {n for n, r in TEMPLATE["Resources"].items() if r["Type"] == "AWS::ECS::TaskDefinition"}
    assert tasks == {"GpuTaskDefinition"}


def test_stream_function_serves_events_as_the_web_adapter_runs_it(
    stack, deployment, client, new_user, queue: QueueProbe, tmp_path
):
    """The Lambda Web Adapter execs the handler script and forwards the function URL's
    requests to ``AWS_LWA_PORT`` once ``AWS_LWA_READINESS_CHECK_PATH`` answers: done here
    the same way, with the template's environment. The scorer, another process, completes
    the analysis while the stream is open."""
    from types import SimpleNamespace

    from pydantic import SecretStr

    from realtone_api.security import issue_access_token
    from realtone_local.procs import free_port
    from realtone_scorer.handler import lambda_handler
    from realtone_scorer.worker import LocalLambdaContext
    from tests.sse import read_events

    env = lambda_environment(stack, deployment, "StreamFunction")
    assert env["AWS_LWA_INVOKE_MODE"] == "response_stream"
    # The API hands out stream URLs on this function's URL.
    api = function_environment(TEMPLATE, "ApiFunction", deployment)
    assert api["REALTONE_STREAM_BASE_URL"] == deployment.attributes["StreamFunctionUrl.FunctionUrl"]
    # An analysis made through the (in-process) API; the stream function is given an access
    # token signed with the deployment's secret, as the deployed API would issue it.
    headers = new_user()
    user_id = client.get("/v1/auth/me", headers=headers).json()["id"]
    data = wav_bytes(9.0, seed=13)
    created = client.post(
        "/v1/analyses",
        headers=headers,
        json={"filename": "s.wav", "content_type": "audio/wav", "size_bytes": len(data)},
    ).json()
    ident = created["analysis"]["id"]
    assert upload_via_post(created["upload"], data, "audio/wav").status_code == 204
    signer = SimpleNamespace(
        jwt_secret=SecretStr(env["REALTONE_JWT_SECRET"]),
        jwt_algorithm="HS256",
        access_token_seconds=300,
    )
    token = issue_access_token(signer, uuid.UUID(user_id))  # type: ignore[arg-type]
    port = free_port()
    code = ROOT / "functions" / "api"
    env |= {
        "AWS_LWA_PORT": str(port),
        "LAMBDA_TASK_ROOT": str(code),
        "PATH": f"{Path(sys.executable).parent}:{env['PATH']}",  # the runtime's python
    }
    log = (tmp_path / "stream.log").open("w")
    server = subprocess.Popen(
        [str(code / TEMPLATE["Resources"]["StreamFunction"]["Properties"]["Handler"])],
        cwd=code,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        ready = base + env["AWS_LWA_READINESS_CHECK_PATH"]
        deadline = time.monotonic() + 60
        while not _answers(ready):
            assert server.poll() is None, (tmp_path / "stream.log").read_text()[-4000:]
            assert time.monotonic() < deadline, "the stream function never became ready"
            time.sleep(0.2)
        with httpx.Client(base_url=base, timeout=30) as http:
            issued = http.post(
                f"/v1/analyses/{ident}/stream-token",
                headers={"Authorization": f"Bearer {token}"},
            )
            assert issued.status_code == 200, issued.text
            with http.stream("GET", issued.json()["url"]) as stream:
                assert stream.status_code == 200
                lines = stream.iter_lines()
                first = next(e for e in read_events(lines) if not e.comment)
                assert first.event == "status"
                event = to_lambda_event(
                    queue.wait_for_key(ident), stack.outputs["ScoreQueueArn"], REGION
                )
                assert lambda_handler(event, LocalLambdaContext()) == {"batchItemFailures": []}
                rest = [e for e in read_events(lines) if not e.comment]
        assert rest[-1].event == "completed" and len(rest[-1].data["chunks"]) == 3
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()


def _messages_of(sqs: Any, queue_url: str, delivery_id: object, wait: int) -> list[Any]:
    """The visible messages of one webhook delivery (others received are left to reappear)."""
    got = sqs.receive_message(
        QueueUrl=queue_url, AttributeNames=["All"], MaxNumberOfMessages=10, WaitTimeSeconds=wait
    ).get("Messages", [])
    return [m for m in got if json.loads(m["Body"])["delivery_id"] == str(delivery_id)]


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False
