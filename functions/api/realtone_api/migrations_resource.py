"""CloudFormation custom resource that applies pending migrations on every deploy.

Create/Update run ``realtone_core.migrate``; Delete does nothing (a stack deletion must
never drop the data). The result goes back to CloudFormation's presigned ResponseURL.
"""

from __future__ import annotations

import json
import urllib.request
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.typing import LambdaContext

from realtone_core.config import MigrationSettings
from realtone_core.migrate import migrate

logger = Logger(service="realtone-migrations")

PHYSICAL_ID = "realtone-database-schema"


def _respond(event: dict[str, Any], status: str, reason: str, data: dict[str, Any]) -> None:
    body = json.dumps(
        {
            "Status": status,
            "Reason": reason[:3000],
            "PhysicalResourceId": event.get("PhysicalResourceId") or PHYSICAL_ID,
            "StackId": event["StackId"],
            "RequestId": event["RequestId"],
            "LogicalResourceId": event["LogicalResourceId"],
            "Data": data,
        }
    ).encode()
    request = urllib.request.Request(
        event["ResponseURL"],
        data=body,
        method="PUT",
        headers={"Content-Type": "", "Content-Length": str(len(body))},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


@logger.inject_lambda_context(clear_state=True)
def handler(event: dict[str, Any], context: LambdaContext) -> None:
    request_type = event.get("RequestType")
    if request_type == "Delete":
        _respond(event, "SUCCESS", "schema kept on delete", {})
        return
    try:
        applied = migrate(MigrationSettings.load().database_url)
    except Exception as exc:
        logger.exception("migrations failed")
        # FAILED makes CloudFormation roll the deployment back.
        _respond(event, "FAILED", f"migrations failed: {exc}", {})
        return
    logger.info("migrations applied", applied=applied)
    _respond(event, "SUCCESS", "ok", {"Applied": ",".join(applied) or "none"})
