"""What the scorer (Lambda handler and worker) reads from the environment."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import Field, model_validator

from realtone_core.config import CoreSettings
from realtone_scorer.options import ScoringOptions

# What the scorer and `realtone eval` load when nothing is configured: the shipped detector.
DEFAULT_MODEL = "builtin:realtone-detector"


class ScorerSettings(CoreSettings):
    model: str = DEFAULT_MODEL
    # Pins the checkpoint file's hash (an s3:// URI may also carry "#sha256=<hex>").
    model_sha256: str | None = None
    model_cache_dir: str = "/tmp/realtone-models"
    device: str = "auto"
    # auto: on a CPU, each way is timed at start and the fastest that keeps scores within
    # 0.02 of fp32 runs (realtone_scorer.ways); on a GPU, bf16 where it has it, else fp16.
    precision: Literal["auto", "fp32", "bf16", "fp16", "onnx-fp32", "onnx-int8"] = "auto"
    torch_threads: int | None = Field(default=None, ge=1)
    batch_size: int = Field(default=8, ge=1, le=256)
    # Several uploads held at once (the worker's --batch-size) share forward passes of up to
    # pooled_batch_size windows. auto: on when a CUDA GPU is present (on a CPU it gains nothing).
    batch_across_messages: Literal["auto", "on", "off"] = "auto"
    pooled_batch_size: int = Field(default=32, ge=1, le=1024)
    # Messages the worker takes per poll (1-10); its --batch-size overrides it.
    worker_batch: int = Field(default=1, ge=1, le=10)

    max_upload_bytes: int = Field(default=100 * 1024 * 1024, ge=1)
    # Decoded audio each user may have scored per (UTC) day, charged when decoding starts.
    audio_seconds_per_day: int = Field(default=4 * 3600, ge=1)
    # Fair scheduling: uploads of a user with more than heavy_in_flight analyses in flight
    # (awaiting upload, queued or processing), or more than heavy_seconds_per_day decoded
    # today, are moved to the heavy queue (unset: everything is scored in arrival order).
    heavy_queue_url: str | None = None
    heavy_in_flight: int = Field(default=3, ge=1)
    heavy_seconds_per_day: int = Field(default=3600, ge=1)
    window_seconds: float = Field(default=4.0, gt=0)
    hop_seconds: float = Field(default=4.0, gt=0)
    min_tail_seconds: float = Field(default=0.5, gt=0)
    max_duration_seconds: float = Field(default=30 * 60, gt=0)
    voice_threshold_dbfs: float = -50.0
    # Unset: the model's own threshold (its card's), else 0.5.
    score_threshold: float | None = Field(default=None, ge=0, le=1)
    inconclusive_band: float = Field(default=0.0, ge=0, le=0.5)

    @model_validator(mode="after")
    def _tail_fits(self) -> ScorerSettings:
        if self.min_tail_seconds > self.window_seconds:
            raise ValueError("REALTONE_MIN_TAIL_SECONDS must not exceed REALTONE_WINDOW_SECONDS")
        return self

    def scoring_options(self, model_threshold: float | None = None) -> ScoringOptions:
        threshold = self.score_threshold
        if threshold is None:
            threshold = model_threshold if model_threshold is not None else 0.5
        return ScoringOptions(
            window_seconds=self.window_seconds,
            hop_seconds=self.hop_seconds,
            min_tail_seconds=self.min_tail_seconds,
            voice_threshold_dbfs=self.voice_threshold_dbfs,
            max_duration_seconds=self.max_duration_seconds,
            score_threshold=threshold,
            inconclusive_band=self.inconclusive_band,
        )


@lru_cache(maxsize=1)
def get_settings() -> ScorerSettings:
    return ScorerSettings.load()
