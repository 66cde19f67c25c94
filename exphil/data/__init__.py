"""The replay corpus: discovery, validation, scanning, filters, duplicates, quality,
statistics, selection (scan + filter + duplicates) and the parsed-game cache."""

from exphil.data._files import (
    MIN_SLP_BYTES,
    SLP_MAGIC,
    DiscoveryError,
    discover,
    file_hash,
    validate,
)
from exphil.data.cache import CacheCorrupt, CachedGame, GameCache, MetaEntry, default_cache_dir
from exphil.data.corpus import (
    Duplicate,
    ReplayFilter,
    corpus_statistics,
    error_summary,
    find_duplicates,
)
from exphil.data.quality import WEIGHTS, Quality, quality
from exphil.data.scan import DEFAULT_TIMEOUT_S, ScanError, ScanResult, default_jobs, scan
from exphil.data.select import (
    MODE_NAMES,
    RULE_NAMES,
    Selection,
    describe_rejections,
    select_games,
)

__all__ = [
    "discover",
    "validate",
    "file_hash",
    "DiscoveryError",
    "SLP_MAGIC",
    "MIN_SLP_BYTES",
    "scan",
    "ScanResult",
    "ScanError",
    "DEFAULT_TIMEOUT_S",
    "default_jobs",
    "GameCache",
    "CachedGame",
    "CacheCorrupt",
    "MetaEntry",
    "default_cache_dir",
    "ReplayFilter",
    "Duplicate",
    "find_duplicates",
    "corpus_statistics",
    "error_summary",
    "select_games",
    "Selection",
    "describe_rejections",
    "MODE_NAMES",
    "RULE_NAMES",
    "Quality",
    "quality",
    "WEIGHTS",
]
