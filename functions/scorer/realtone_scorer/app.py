"""Building the scorer once per container: settings, adapters and the loaded detector."""

from __future__ import annotations

from functools import lru_cache, partial

from realtone_core.config import get_settings
from realtone_core.scorer_card import MODEL_CARD_KEY
from realtone_core.services import Services
from realtone_core.status import publish
from realtone_scorer.detector import load_detector
from realtone_scorer.service import Scorer


@lru_cache(maxsize=1)
def get_scorer() -> Scorer:
    settings = get_settings()
    services = Services.from_settings(settings)
    detector = load_detector(settings.model, settings.torch_threads)
    services.cache.set_json(MODEL_CARD_KEY, detector.card.model_dump())
    return Scorer(
        settings=settings,
        analyses=services.analyses,
        objects=services.objects,
        publish=partial(publish, services.analyses, services.cache),
        detector=detector,
    )
