"""The RealTone HTTP API (FastAPI); ``realtone_api.main.handler`` is the Lambda entry point."""
