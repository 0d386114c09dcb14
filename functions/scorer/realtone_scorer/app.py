"""Building the scorer once per container: settings, adapters and the loaded detector."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache, partial
from pathlib import Path

from realtone_core.config import Settings, get_settings
from realtone_core.scorer_card import MODEL_CARD_KEY
from realtone_core.services import Services
from realtone_core.status import publish
from realtone_core.storage import s3_client
from realtone_scorer.checkpoints import load_detector
from realtone_scorer.pooling import PooledDetector
from realtone_scorer.service import Scorer


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    services: Services


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    settings = get_settings()
    return Runtime(settings, Services.from_settings(settings))


@lru_cache(maxsize=1)
def get_scorer() -> Scorer:
    runtime = get_runtime()
    settings, services = runtime.settings, runtime.services
    if settings.torch_threads:
        import torch

        torch.set_num_threads(settings.torch_threads)
    detector = load_detector(
        settings.model,
        device=settings.device,
        precision=settings.precision,
        expected_sha256=settings.model_sha256,
        cache_dir=Path(settings.model_cache_dir),
        s3=s3_client(settings.aws_region, settings.aws_endpoint_url),
    )
    services.cache.set_json(MODEL_CARD_KEY, detector.card.model_dump())
    pooled = settings.batch_across_messages == "on" or (
        settings.batch_across_messages == "auto" and detector.device.type == "cuda"
    )
    return Scorer(
        settings=settings,
        analyses=services.analyses,
        objects=services.objects,
        publish=partial(publish, services.analyses, services.cache),
        detector=PooledDetector(detector, settings.pooled_batch_size) if pooled else detector,
    )
