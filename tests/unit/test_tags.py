"""ACM's tag rules on top of the model's."""

from __future__ import annotations

import pytest

from openacm.domain.errors import InvalidTagError, TooManyTagsError
from openacm.domain.tags import Tag, TagLimits, merge_tags, tags_to_remove

LIMITS = TagLimits(per_resource=50, key_length=127, value_length=255)


def test_merge_overwrites_values_and_keeps_order() -> None:
    merged = merge_tags([Tag("a", "1"), Tag("b", "2")], [Tag("a", "9"), Tag("c", None)], LIMITS)
    assert merged == [Tag("a", "9"), Tag("b", "2"), Tag("c", None)]


def test_fifty_tags_fit_and_the_fifty_first_does_not() -> None:
    fifty = [Tag(f"k{i}", "v") for i in range(50)]
    assert len(merge_tags([], fifty, LIMITS)) == 50
    with pytest.raises(TooManyTagsError, match="contains too many Tags"):
        merge_tags(fifty, [Tag("one-more", "v")], LIMITS)


def test_reserved_tags_do_not_count_but_cannot_be_changed() -> None:
    existing = [Tag("aws:cloudformation:stack-name", "s")] + [Tag(f"k{i}", "") for i in range(49)]
    assert len(merge_tags(existing, [Tag("k49", "")], LIMITS)) == 51
    with pytest.raises(InvalidTagError, match="AWS internal tags cannot be changed"):
        merge_tags([], [Tag("aws:mine", "x")], LIMITS)


@pytest.mark.parametrize(
    ("tag", "message"),
    [(Tag("k" * 128, "v"), "at most 127"), (Tag("k", "v" * 256), "at most 255")],
)
def test_length_limits(tag: Tag, message: str) -> None:
    assert merge_tags([], [Tag("k" * 127, "v" * 255)], LIMITS)
    with pytest.raises(InvalidTagError, match=message):
        merge_tags([], [tag], LIMITS)


def test_remove_matches_value_only_when_given() -> None:
    existing = [Tag("env", "prod"), Tag("team", "pki"), Tag("bare", None)]
    requested = [Tag("env", "dev"), Tag("team", None), Tag("bare", None), Tag("absent", "x")]
    assert tags_to_remove(existing, requested) == ["team", "bare"]
