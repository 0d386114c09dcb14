"""Schema migrations: numbered SQL files applied in order by ``python -m realtone_core.migrate``."""
