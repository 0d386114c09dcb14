"""The deployment pieces against real services: migrations custom resource, local resources."""

from __future__ import annotations

import json
import uuid
from typing import Any

import psycopg
import pytest

from realtone_local import postgres
from realtone_local.resources import STACK_NAME, load_template, local_template
from realtone_local.stack import REGION, ROOT
from realtone_scorer.worker import LocalLambdaContext
from tests.integration.conftest import cfn_event

pytestmark = pytest.mark.integration


def test_migrations_resource_migrates_a_fresh_database(stack, response_url, monkeypatch):
    from realtone_api import migrations_resource

    url, received = response_url
    fresh = (
        stack.env["REALTONE_DATABASE_URL"].rsplit("/", 1)[0]
        + f"/realtone_mig_{uuid.uuid4().hex[:8]}"
    )
    postgres.ensure_database(fresh)
    try:
        monkeypatch.setenv("REALTONE_DATABASE_URL", fresh)
        migrations_resource.handler(cfn_event(url, "Create"), LocalLambdaContext())
        migrations_resource.handler(cfn_event(url, "Update"), LocalLambdaContext())
        migrations_resource.handler(cfn_event(url, "Delete"), LocalLambdaContext())
        assert [r["Status"] for r in received] == ["SUCCESS"] * 3
        from realtone_core.migrate import migration_files

        assert received[0]["Data"] == {"Applied": ",".join(v for v, _ in migration_files())}
        assert received[1]["Data"] == {"Applied": "none"}
        with psycopg.connect(fresh) as conn:
            assert conn.execute("SELECT count(*) FROM analyses").fetchone()[0] == 0
    finally:
        postgres.drop_database(fresh)


def test_migrations_resource_reports_failure(stack, response_url, monkeypatch):
    from realtone_api import migrations_resource

    url, received = response_url
    monkeypatch.setenv("REALTONE_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")
    migrations_resource.handler(cfn_event(url, "Create"), LocalLambdaContext())
    assert received[0]["Status"] == "FAILED"
    assert "migrations failed" in received[0]["Reason"]


def test_local_resources_are_the_templates(stack, services):
    """What LocalStack runs is deployed from template.yaml, with its settings."""
    import boto3

    expected = local_template(load_template(ROOT / "template.yaml"))["Resources"]
    endpoint = stack.env["REALTONE_AWS_ENDPOINT_URL"]
    cfn = boto3.client("cloudformation", endpoint_url=endpoint, region_name=REGION)
    deployed = {
        r["LogicalResourceId"]
        for r in cfn.describe_stack_resources(StackName=STACK_NAME)["StackResources"]
    }
    assert deployed == set(expected)
    sqs = services.sqs
    attrs = sqs.get_queue_attributes(QueueUrl=services.settings.queue_url, AttributeNames=["All"])[
        "Attributes"
    ]
    redrive = json.loads(attrs["RedrivePolicy"])
    assert int(redrive["maxReceiveCount"]) == 3
    dlq_name = stack.outputs["ScoreDeadLetterQueueUrl"].rsplit("/", 1)[1]
    assert redrive["deadLetterTargetArn"].endswith(dlq_name)
    assert attrs["VisibilityTimeout"] == "5400"
    policy = json.loads(attrs["Policy"])["Statement"][0]
    assert policy["Condition"]["ArnEquals"]["aws:SourceArn"].endswith(services.settings.bucket)
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name=REGION)
    cors = s3.get_bucket_cors(Bucket=services.settings.bucket)["CORSRules"][0]
    assert stack.env["REALTONE_CORS_ORIGINS"].split(",") == cors["AllowedOrigins"]
    notification = s3.get_bucket_notification_configuration(Bucket=services.settings.bucket)
    rules = notification["QueueConfigurations"][0]["Filter"]["Key"]["FilterRules"]
    assert {"Name": "Prefix", "Value": "uploads/"} in [
        {"Name": r["Name"].capitalize(), "Value": r["Value"]} for r in rules
    ]


def test_only_uploads_fire_the_notification(stack, services, queue):
    import time

    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.env["REALTONE_AWS_ENDPOINT_URL"], region_name=REGION)
    s3.put_object(Bucket=services.settings.bucket, Key="elsewhere/x.wav", Body=b"x")
    marker = f"uploads/{uuid.uuid4()}/{uuid.uuid4()}/y.wav"
    s3.put_object(Bucket=services.settings.bucket, Key=marker, Body=b"y")
    keys: list[str] = []
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        for m in queue.sqs.receive_message(
            QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
        ).get("Messages", []):
            record = json.loads(m["Body"])["Records"][0]
            assert record["eventName"].startswith("ObjectCreated:")
            keys.append(record["s3"]["object"]["key"])
            queue.sqs.delete_message(QueueUrl=queue.url, ReceiptHandle=m["ReceiptHandle"])
    assert keys == [marker]


def test_invoke_command_replays_event_files(stack, tmp_path):
    import subprocess
    import sys

    env_file = tmp_path / "stack-env.json"
    stack.write_env(env_file)

    def invoke(function: str, event: str, *sets: str) -> dict[str, Any]:
        args = [
            sys.executable,
            "-m",
            "realtone_local",
            "invoke",
            "--function",
            function,
            "--event",
            f"tests/events/{event}",
            "--env-file",
            str(env_file),
        ]
        for s in sets:
            args += ["--set", s]
        done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)

    assert invoke("api", "api-health.json")["body"]["checks"]["postgres"] == "ok"
    email = f"invoke-{uuid.uuid4().hex[:8]}@example.com"
    registered = invoke("api", "api-register.json", f"EMAIL={email}")
    assert registered["statusCode"] == 201 and registered["body"]["email"] == email
    bucket = stack.env["REALTONE_BUCKET"]
    assert invoke("scorer", "sqs-s3-test-event.json", f"BUCKET={bucket}") == {
        "batchItemFailures": []
    }
