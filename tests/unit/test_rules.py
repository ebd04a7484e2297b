"""The field rules: what is accepted, what is refused, and that every invalid field is named."""

from __future__ import annotations

from uuid import uuid4

import pytest

from core.errors import InvalidInput
from core.model import PageRequest, ResourceChanges, ResourceDraft
from core.rules import checked_changes, checked_draft, checked_page, checked_query


def _fields(excinfo: pytest.ExceptionInfo[InvalidInput]) -> list[str]:
    return [error.field for error in excinfo.value.errors]


def test_a_draft_name_is_trimmed() -> None:
    assert checked_draft(ResourceDraft("  cache \n")).name == "cache"


@pytest.mark.parametrize("name", ["", "   ", "\t\n"])
def test_a_blank_name_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        checked_draft(ResourceDraft(name))
    assert _fields(excinfo) == ["name"]


def test_the_length_limit_applies_after_trimming() -> None:
    assert checked_draft(ResourceDraft(" " * 10 + "n" * 200 + " " * 10)).name == "n" * 200
    with pytest.raises(InvalidInput):
        checked_draft(ResourceDraft("n" * 201))


@pytest.mark.parametrize("name", ["a\x00b", "a\tb", "a\nb", "a\x7fb", "a\x85b", "a\ud800b"])
def test_control_characters_and_surrogates_are_refused_in_names(name: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        checked_draft(ResourceDraft(name))
    assert _fields(excinfo) == ["name"]


def test_descriptions_allow_tab_and_newline_only() -> None:
    assert checked_draft(ResourceDraft("n", "line\n\tindented")).description == "line\n\tindented"
    with pytest.raises(InvalidInput) as excinfo:
        checked_draft(ResourceDraft("n", "carriage\rreturn"))
    assert _fields(excinfo) == ["description"]


def test_every_invalid_field_is_named() -> None:
    dependency = uuid4()
    with pytest.raises(InvalidInput) as excinfo:
        checked_draft(ResourceDraft("", "d" * 10_001, (dependency, dependency)))
    assert _fields(excinfo) == ["name", "description", "dependencies[1]"]


def test_at_most_a_thousand_dependencies() -> None:
    checked_draft(ResourceDraft("n", dependencies=tuple(uuid4() for _ in range(1_000))))
    with pytest.raises(InvalidInput) as excinfo:
        checked_draft(ResourceDraft("n", dependencies=tuple(uuid4() for _ in range(1_001))))
    assert _fields(excinfo) == ["dependencies"]


def test_changes_check_only_the_fields_given() -> None:
    assert checked_changes(ResourceChanges()) == ResourceChanges()
    assert checked_changes(ResourceChanges(name=" x ")).name == "x"
    with pytest.raises(InvalidInput) as excinfo:
        checked_changes(ResourceChanges(name=" ", description="\x01"))
    assert _fields(excinfo) == ["name", "description"]


@pytest.mark.parametrize(
    ("page", "fields"),
    [
        (PageRequest(0, 0), ["limit"]),
        (PageRequest(501, 0), ["limit"]),
        (PageRequest(1, -1), ["offset"]),
        (PageRequest(1, 2**53 + 1), ["offset"]),
        (PageRequest(0, -1), ["limit", "offset"]),
    ],
)
def test_pages_out_of_range_are_refused(page: PageRequest, fields: list[str]) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        checked_page(page)
    assert _fields(excinfo) == fields


def test_pages_at_the_limits_are_accepted() -> None:
    assert checked_page(PageRequest(500, 2**53)) == PageRequest(500, 2**53)


@pytest.mark.parametrize("text", ["", "q" * 201, "a\x00"])
def test_bad_search_text_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput) as excinfo:
        checked_query(text)
    assert _fields(excinfo) == ["q"]


def test_search_text_is_taken_literally() -> None:
    assert checked_query(" %_\\ ") == " %_\\ "
