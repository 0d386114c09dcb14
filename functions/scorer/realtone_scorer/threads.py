"""How many CPUs this container really has, so thread pools never outnumber them.

``os.cpu_count()`` reports the host's CPUs; a container gets fewer: a cgroup CPU quota
(Lambda gives a share that grows with memory, ECS and Docker set ``cpu.max``) and an
affinity mask. Two runtimes each spinning a pool per host CPU on two real cores were
measured ten times slower than one pool of two.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

_CGROUP_V2 = Path("/sys/fs/cgroup/cpu.max")
_CGROUP_V1 = (
    Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us"),
    Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
)


def _quota(v2: Path = _CGROUP_V2, v1: tuple[Path, Path] = _CGROUP_V1) -> float | None:
    """CPUs allowed by the cgroup quota, or None when unlimited or unknown."""
    try:
        quota, period = v2.read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us, period_us = (int(p.read_text()) for p in v1)
    except (OSError, ValueError):
        return None
    return quota_us / period_us if quota_us > 0 else None


def cpu_count(v2: Path = _CGROUP_V2, v1: tuple[Path, Path] = _CGROUP_V1) -> int:
    """Usable CPUs: the affinity mask, capped by the cgroup quota (rounded up), at least 1."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:
        count = os.cpu_count() or 1
    quota = _quota(v2, v1)
    if quota is not None:
        count = min(count, max(1, math.ceil(quota)))
    return max(1, count)


def size_torch(threads: int | None = None) -> int:
    """Set torch's pools to ``threads`` (default: the usable CPUs); returns the number."""
    import torch

    wanted = threads or cpu_count()
    if torch.get_num_threads() != wanted:
        torch.set_num_threads(wanted)
    return wanted
