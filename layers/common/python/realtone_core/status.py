"""Publishing status documents: Postgres row (+ chunks) → Redis, used by API and scorer alike."""

from __future__ import annotations

from realtone_core.cache import CachedAnalysis, StatusCache
from realtone_core.models import AnalysisRecord, Status
from realtone_core.store import AnalysisStore


def publish(analyses: AnalysisStore, cache: StatusCache, record: AnalysisRecord) -> CachedAnalysis:
    """Write the record's status document to the cache; returns the cached entry."""
    chunks = analyses.chunks(record.id) if record.status == Status.COMPLETED else []
    return cache.put(record.owner_id, record.to_analysis(chunks))
