#!/bin/bash
# StreamFunction's handler (template.yaml): the Lambda Web Adapter layer runs this script
# and forwards each function-URL request to the server it starts, streaming the response.
# API Gateway HTTP APIs buffer Lambda responses, so server-sent events are served here.
# The layer's packages are in /opt/python; the function's own code is the working directory.
export PYTHONPATH="${LAMBDA_TASK_ROOT:-.}:/opt/python${PYTHONPATH:+:$PYTHONPATH}"
exec python -m uvicorn realtone_api.main:app --host 127.0.0.1 --port "${AWS_LWA_PORT:-8080}" \
    --no-access-log --no-proxy-headers
