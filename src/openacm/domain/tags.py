"""ACM's tag rules (inventory §8): reserved prefix, per-resource count, key and value lengths.

The model's own limits (pattern, 128/256 characters, 50 per request) are checked by the
protocol layer; these are the service's rules on top, with the seeds' limits as quotas.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from openacm.domain.errors import InvalidTagError, TooManyTagsError

RESERVED_PREFIX = "aws:"


@dataclass(frozen=True)
class Tag:
    key: str
    value: str | None

    def to_api(self) -> dict[str, str]:
        return {"Key": self.key} if self.value is None else {"Key": self.key, "Value": self.value}


@dataclass(frozen=True)
class TagLimits:
    per_resource: int
    key_length: int
    value_length: int


def tags_from_api(items: Iterable[dict[str, object]]) -> list[Tag]:
    tags = []
    for item in items:
        value = item.get("Value")
        tags.append(Tag(str(item["Key"]), None if value is None else str(value)))
    return tags


def check_tags_to_change(tags: Sequence[Tag], limits: TagLimits) -> None:
    """Tags a caller adds or removes: none reserved, none over the length limits."""
    for tag in tags:
        if tag.key.startswith(RESERVED_PREFIX):
            raise InvalidTagError(
                f'Invalid Tag Key: "{tag.key}". AWS internal tags cannot be changed with this API'
            )
        if len(tag.key) > limits.key_length:
            raise InvalidTagError(
                f'Invalid Tag Key: "{tag.key}". Tag keys can be at most '
                f"{limits.key_length} characters long"
            )
        if tag.value is not None and len(tag.value) > limits.value_length:
            raise InvalidTagError(
                f'Invalid Tag Value: "{tag.value}". Tag values can be at most '
                f"{limits.value_length} characters long"
            )


def merge_tags(existing: Sequence[Tag], added: Sequence[Tag], limits: TagLimits) -> list[Tag]:
    """The resource's tags after adding `added` (a key already present takes the new value)."""
    check_tags_to_change(added, limits)
    merged = {tag.key: tag for tag in existing}
    for tag in added:
        merged[tag.key] = tag
    counted = [tag for tag in merged.values() if not tag.key.startswith(RESERVED_PREFIX)]
    if len(counted) > limits.per_resource:
        listing = ", ".join(f"{t.key}={t.value or ''}" for t in merged.values())
        raise TooManyTagsError(f"the TagSet: '{{{listing}}}' contains too many Tags")
    return list(merged.values())


def tags_to_remove(existing: Sequence[Tag], requested: Sequence[Tag]) -> list[str]:
    """Keys to delete: a requested tag with a value removes the tag only if the value matches."""
    by_key = {tag.key: tag for tag in existing}
    keys = []
    for tag in requested:
        current = by_key.get(tag.key)
        if current is not None and (tag.value is None or tag.value == current.value):
            keys.append(tag.key)
    return keys
