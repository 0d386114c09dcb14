"""The FastAPI app and its Lambda entry point (``realtone_api.main.handler``)."""

from __future__ import annotations

from aws_lambda_powertools import Logger
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles
from mangum import Mangum

from realtone_api.errors import install_error_handlers
from realtone_api.middleware import AccessLog, BodySizeLimit, SecurityHeaders
from realtone_api.routes import account, analyses, auth, deliveries, health, ui, voices
from realtone_api.settings import get_settings

logger = Logger(service="realtone-api")


def create_app() -> FastAPI:
    settings = get_settings()
    app = FastAPI(
        title="RealTone",
        version="1.0.0",
        description="Upload audio, get a per-window deepfake score timeline and a verdict.",
        # /docs is served by routes.ui with local assets (FastAPI's loads them from a CDN).
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    # Innermost, so the routes read the body through its counting receive.
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_request_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "If-None-Match"],
        expose_headers=["ETag", "Retry-After"],
        max_age=600,
    )

    app.add_middleware(AccessLog, logger=logger)
    app.add_middleware(SecurityHeaders, settings=settings)
    routers = (auth, account, analyses, deliveries, voices, health, ui)
    for module in routers:
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=ui.STATIC_DIR), name="static")
    return app


app = create_app()
handler = logger.inject_lambda_context(Mangum(app, lifespan="off"), clear_state=True)
