"""Which AWS partition a region belongs to, read from botocore's partitions data."""

from __future__ import annotations

import functools
import re

import botocore.loaders


@functools.cache
def _partitions() -> tuple[tuple[str, re.Pattern[str], frozenset[str]], ...]:
    data = botocore.loaders.Loader().load_data("partitions")
    # ASCII: the regexes are written for engines where \w and \d are ASCII-only.
    return tuple(
        (p["id"], re.compile(p["regionRegex"], re.ASCII), frozenset(p["regions"]))
        for p in data["partitions"]
    )


# The store keeps region names in 32 characters; AWS's longest has 14.
MAX_REGION_LENGTH = 32


@functools.lru_cache(maxsize=256)
def partition_for_region(region: str) -> str | None:
    """`aws`, `aws-cn`, `aws-us-gov`, … for a region name; None for a name no partition has."""
    if len(region) > MAX_REGION_LENGTH:
        return None
    for partition_id, pattern, regions in _partitions():
        if region in regions or pattern.fullmatch(region):
            return partition_id
    return None
