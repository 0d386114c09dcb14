"""Building the scorer once per container: settings, adapters and the loaded detector."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import lru_cache, partial
from pathlib import Path
from uuid import UUID

from aws_lambda_powertools import Logger

from realtone_core.lifecycle import publish
from realtone_core.limits import AudioQuota, RateLimiter
from realtone_core.s3 import s3_client
from realtone_core.scorer_card import MODEL_CARD_KEY
from realtone_core.services import Services
from realtone_core.sqs import HeavyQueue
from realtone_core.voices import MATCH_THRESHOLD, VoiceStore
from realtone_core.webhooks import WebhookQueue, WebhookStore, dispatch
from realtone_scorer.checkpoints import load_detector
from realtone_scorer.pooling import PooledDetector
from realtone_scorer.settings import ScorerSettings, get_settings
from realtone_scorer.speaker_encoder import SpeakerEncoder
from realtone_scorer.threads import size_torch
from realtone_scorer.uploads import FairShare, Scorer

logger = Logger(service="realtone-scorer", child=True)


@dataclass(frozen=True)
class Runtime:
    settings: ScorerSettings
    services: Services
    quota: AudioQuota


@lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    settings = get_settings()
    quota = AudioQuota(RateLimiter(settings.redis_url), settings.audio_seconds_per_day)
    return Runtime(settings, Services.from_settings(settings), quota)


@lru_cache(maxsize=1)
def get_fair_share() -> FairShare:
    runtime = get_runtime()
    settings, services = runtime.settings, runtime.services
    heavy = HeavyQueue(services.sqs, settings.heavy_queue_url) if settings.heavy_queue_url else None
    return FairShare(
        analyses=services.analyses,
        heavy=heavy,
        quota=runtime.quota,
        max_in_flight=settings.heavy_in_flight,
        max_seconds_today=settings.heavy_seconds_per_day,
    )


@lru_cache(maxsize=1)
def get_scorer() -> Scorer:
    runtime = get_runtime()
    settings, services = runtime.settings, runtime.services
    threads = size_torch(settings.torch_threads)
    detector = load_detector(
        settings.model,
        device=settings.device,
        precision=settings.precision,
        expected_sha256=settings.model_sha256,
        cache_dir=Path(settings.model_cache_dir),
        s3=s3_client(settings.aws_region, settings.aws_endpoint_url),
    )
    probe = [asdict(choice) for choice in detector.probe or []]
    logger.info(
        "detector ready",
        model=detector.card.model_dump(),
        threads=threads,
        ways=detector.ways,
        probe=probe,
    )
    # /health shows the card, with what the start-up probe measured on this machine.
    services.cache.set_json(MODEL_CARD_KEY, {**detector.card.model_dump(), "probe": probe})
    pooled = settings.batch_across_messages == "on" or (
        settings.batch_across_messages == "auto" and detector.device.type == "cuda"
    )
    return Scorer(
        options=settings.scoring_options(detector.card.threshold),
        analyses=services.analyses,
        objects=services.objects,
        publish=partial(publish, services.cache),
        detector=PooledDetector(detector, settings.pooled_batch_size) if pooled else detector,
        lease_seconds=settings.claim_lease_seconds,
        max_upload_bytes=settings.max_upload_bytes,
        batch_size=settings.batch_size,
        quota=runtime.quota,
        announce=_announcer(services, settings.webhook_queue_url),
        voices=SpeakerEncoder(),
        voice_store=VoiceStore(services.db),
        match_threshold=MATCH_THRESHOLD,
    )


def _announcer(services: Services, queue_url: str | None) -> Callable[[UUID], object] | None:
    """Webhooks: queues the deliveries an analysis's end created (none without a queue)."""
    if not queue_url:
        return None
    store, queue = WebhookStore(services.db), WebhookQueue(services.sqs, queue_url)
    return lambda analysis_id: dispatch(store, queue, analysis_id)
