"""The rules every resource field obeys, checked before anything is stored."""

from __future__ import annotations

import unicodedata
from uuid import UUID

from core.errors import FieldError, InvalidInput
from core.model import (
    DEPENDENCIES_MAX_COUNT,
    DESCRIPTION_MAX_LENGTH,
    NAME_MAX_LENGTH,
    PAGE_MAX_LIMIT,
    PAGE_MAX_OFFSET,
    QUERY_MAX_LENGTH,
    PageRequest,
    ResourceChanges,
    ResourceDraft,
)

_DESCRIPTION_ALLOWED_CONTROLS = frozenset("\t\n")


def _forbidden_character(text: str, allowed: frozenset[str] = frozenset()) -> str | None:
    """The first control character or lone surrogate in `text` that is not allowed."""
    for char in text:
        if char not in allowed and unicodedata.category(char) in ("Cc", "Cs"):
            return char
    return None


def _text_errors(field: str, text: str, max_length: int, allowed: frozenset[str]) -> list[FieldError]:
    errors = []
    if len(text) > max_length:
        errors.append(FieldError(field, f"must be at most {max_length} characters"))
    bad = _forbidden_character(text, allowed)
    if bad is not None:
        errors.append(FieldError(field, f"must not contain the control character U+{ord(bad):04X}"))
    return errors


def name_errors(name: str) -> list[FieldError]:
    """Why `name` (already trimmed) is not a valid resource name, if it is not."""
    if not name:
        return [FieldError("name", "must not be empty or only white space")]
    return _text_errors("name", name, NAME_MAX_LENGTH, frozenset())


def description_errors(description: str) -> list[FieldError]:
    """Why `description` is not a valid description, if it is not."""
    return _text_errors("description", description, DESCRIPTION_MAX_LENGTH, _DESCRIPTION_ALLOWED_CONTROLS)


def dependencies_errors(dependencies: tuple[UUID, ...]) -> list[FieldError]:
    """Why `dependencies` is not a valid dependency list, if it is not."""
    errors = []
    if len(dependencies) > DEPENDENCIES_MAX_COUNT:
        errors.append(FieldError("dependencies", f"must hold at most {DEPENDENCIES_MAX_COUNT} ids"))
    seen: set[UUID] = set()
    for index, dependency in enumerate(dependencies):
        if dependency in seen:
            errors.append(FieldError(f"dependencies[{index}]", f"repeats {dependency}"))
        seen.add(dependency)
    return errors


def _raise_if_any(errors: list[FieldError]) -> None:
    if errors:
        raise InvalidInput(errors)


def checked_draft(draft: ResourceDraft) -> ResourceDraft:
    """The draft with its name trimmed; raises `InvalidInput` naming every invalid field."""
    name = draft.name.strip()
    errors = name_errors(name) + description_errors(draft.description) + dependencies_errors(draft.dependencies)
    _raise_if_any(errors)
    return ResourceDraft(name=name, description=draft.description, dependencies=draft.dependencies)


def checked_changes(changes: ResourceChanges) -> ResourceChanges:
    """The changes with the name trimmed; raises `InvalidInput` naming every invalid field."""
    name = None if changes.name is None else changes.name.strip()
    errors = []
    if name is not None:
        errors += name_errors(name)
    if changes.description is not None:
        errors += description_errors(changes.description)
    if changes.dependencies is not None:
        errors += dependencies_errors(changes.dependencies)
    _raise_if_any(errors)
    return ResourceChanges(name=name, description=changes.description, dependencies=changes.dependencies)


def checked_page(page: PageRequest) -> PageRequest:
    """The page request unchanged; raises `InvalidInput` if limit or offset is out of range."""
    errors = []
    if not 1 <= page.limit <= PAGE_MAX_LIMIT:
        errors.append(FieldError("limit", f"must be between 1 and {PAGE_MAX_LIMIT}"))
    if not 0 <= page.offset <= PAGE_MAX_OFFSET:
        errors.append(FieldError("offset", f"must be between 0 and {PAGE_MAX_OFFSET}"))
    _raise_if_any(errors)
    return page


def query_errors(text: str) -> list[FieldError]:
    """Why `text` is not valid search text, if it is not."""
    if not text:
        return [FieldError("q", "must not be empty")]
    return _text_errors("q", text, QUERY_MAX_LENGTH, frozenset())


def checked_query(text: str) -> str:
    """The search text unchanged; raises `InvalidInput` if it is empty, too long or has control characters."""
    _raise_if_any(query_errors(text))
    return text
