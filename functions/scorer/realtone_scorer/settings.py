"""What the scorer (Lambda handler and worker) reads from the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from realtone_core.config import CoreSettings
from realtone_scorer.options import ScoringOptions


class ScorerSettings(CoreSettings):
    model: str = "dev:tiny"
    # Pins the checkpoint file's hash (an s3:// URI may also carry "#sha256=<hex>").
    model_sha256: str | None = None
    model_cache_dir: str = "/tmp/realtone-models"
    device: str = "auto"
    # auto: bf16 on CPUs with AVX-512 BF16/AMX and on GPUs that have it, fp16 on other GPUs,
    # else fp32.
    precision: Literal["auto", "fp32", "bf16", "fp16"] = "auto"
    torch_threads: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1, le=256)
    # Several uploads held at once (the worker's --batch-size) share forward passes of up to
    # pooled_batch_size windows. auto: on when a CUDA GPU is present (on a CPU it gains nothing).
    batch_across_messages: Literal["auto", "on", "off"] = "auto"
    pooled_batch_size: int = Field(default=32, ge=1, le=1024)
    # Messages the worker takes per poll (1-10); its --batch-size overrides it.
    worker_batch: int = Field(default=1, ge=1, le=10)

    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    window_seconds: float = Field(default=4.0, gt=0)
    hop_seconds: float = Field(default=4.0, gt=0)
    min_tail_seconds: float = Field(default=0.5, gt=0)
    max_duration_seconds: float = Field(default=30 * 60, gt=0)
    voice_threshold_dbfs: float = -50.0
    score_threshold: float = Field(default=0.5, ge=0, le=1)
    inconclusive_band: float = Field(default=0.0, ge=0, le=0.5)

    @model_validator(mode="after")
    def _tail_fits(self) -> ScorerSettings:
        if self.min_tail_seconds > self.window_seconds:
            raise ValueError("REALTONE_MIN_TAIL_SECONDS must not exceed REALTONE_WINDOW_SECONDS")
        return self

    def scoring_options(self) -> ScoringOptions:
        return ScoringOptions(
            window_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds,
            min_tail_seconds=self.min_tail_seconds,
            voice_threshold_dbfs=self.voice_threshold_dbfs,
            max_duration_seconds=self.max_duration_seconds,
            score_threshold=self.score_threshold,
            inconclusive_band=self.inconclusive_band,
        )


@lru_cache(maxsize=1)
def get_settings() -> ScorerSettings:
    return ScorerSettings.load()
