"""The RealTone scorer: decode → 16 kHz mono → 4-s windows → WavLM detector → Postgres/Redis.

Two entry points share one processing path: ``handler.lambda_handler`` (SQS event source)
and ``worker`` (long-polling, the ECS task; locally, the Lambda emulation).
"""
