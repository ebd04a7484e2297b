"""The one validation path of both apps: msgspec decoding that names every invalid field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar
from uuid import UUID

import msgspec

from core.errors import FieldError, InvalidInput
from entrypoints.http.dto import Input

T = TypeVar("T")
InputT = TypeVar("InputT", bound=Input)


class InvalidRequest(InvalidInput):
    """Input refused at the HTTP edge, before the service ran."""


class RequestError(Exception):
    """A request the API cannot read at all; `status` is its HTTP status."""

    status = 400
    slug = "malformed-request"
    title = "Malformed request"


class MalformedBody(RequestError):
    """The body is not JSON, or is nested too deeply to read."""

    slug = "malformed-body"
    title = "Malformed JSON body"


class PayloadTooLarge(RequestError):
    """The body is larger than the configured limit."""

    status = 413
    slug = "payload-too-large"
    title = "Request body too large"

    @classmethod
    def beyond(cls, limit: int) -> PayloadTooLarge:
        """The refusal of a body larger than `limit` bytes."""
        return cls(f"the body must be at most {limit} bytes")


class UnsupportedMediaType(RequestError):
    """The body is not declared as JSON."""

    status = 415
    slug = "unsupported-media-type"
    title = "Unsupported media type"


def ensure_json_content_type(content_type: str | None) -> None:
    """Accept `application/json` and `application/*+json`, with or without parameters."""
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not (
        media_type.startswith("application/") and media_type.endswith("+json")
    ):
        raise UnsupportedMediaType(f"the body must be application/json, not {media_type or 'undeclared'}")


async def read_body(chunks: AsyncIterator[bytes], declared_length: str | None, limit: int) -> bytes:
    """The whole body, refused as soon as it is known to exceed `limit` bytes."""
    too_large = PayloadTooLarge.beyond(limit)
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


@dataclass(frozen=True, slots=True)
class Decoded(Generic[T]):
    """One decoded part of a request (body, query or path id), or every error that kept it from decoding."""

    result: T | None
    errors: list[FieldError]

    @property
    def value(self) -> T:
        """The decoded value; raises `InvalidRequest` if the part was invalid."""
        if self.result is None:
            raise InvalidRequest(self.errors)
        return self.result


def ensure_valid(*parts: Decoded[Any]) -> None:
    """Raise one `InvalidRequest` that names every invalid field of every part."""
    errors = [error for part in parts for error in part.errors]
    if errors:
        raise InvalidRequest(errors)


def decode_body(body: bytes, input_type: type[InputT]) -> Decoded[InputT]:
    """Decode a JSON body strictly, then apply the core's field rules; every invalid field is named."""
    try:
        return _checked(msgspec.json.decode(body, type=input_type))
    except msgspec.ValidationError as exc:
        return Decoded(None, _field_errors(_untyped_json(body), input_type, strict=True) or [_error("body", exc)])
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise MalformedBody("the body is not valid JSON") from None


def decode_query(params: Mapping[str, str], input_type: type[InputT]) -> Decoded[InputT]:
    """Convert query parameters (text) to `input_type`; every invalid parameter is named."""
    try:
        return _checked(msgspec.convert(params, input_type, strict=False))
    except msgspec.ValidationError as exc:
        return Decoded(None, _field_errors(params, input_type, strict=False) or [_error("query", exc)])


def decode_id(value: str) -> Decoded[UUID]:
    """A resource id from the path."""
    try:
        return Decoded(UUID(value), [])
    except ValueError:
        return Decoded(None, [FieldError("id", "must be a UUID")])


def _checked(decoded: InputT) -> Decoded[InputT]:
    errors = [
        error
        for field, rule in decoded.field_rules.items()
        if (value := getattr(decoded, field)) is not msgspec.UNSET
        for error in rule(value)
    ]
    return Decoded(None if errors else decoded, errors)


def _untyped_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise MalformedBody("the body is nested too deeply") from None


def _field_errors(data: Any, input_type: type[Input], *, strict: bool) -> list[FieldError]:
    """Decode field by field, so that one invalid field does not hide another."""
    if not isinstance(data, dict):
        return [FieldError("body", "must be a JSON object")]
    fields = msgspec.structs.fields(input_type)
    errors = []
    if input_type.__struct_config__.forbid_unknown_fields:
        known = {field.encode_name for field in fields}
        errors += [FieldError(str(key), "is not a known field") for key in data if key not in known]
    for field in fields:
        if field.encode_name not in data:
            if field.required:
                errors.append(FieldError(field.encode_name, "is required"))
            continue
        try:
            value = msgspec.convert(data[field.encode_name], field.type, strict=strict)
        except msgspec.ValidationError as exc:
            errors.append(_error(field.encode_name, exc))
            continue
        if field.name in input_type.field_rules:
            errors += input_type.field_rules[field.name](value)
    return errors


def _error(field: str, exc: msgspec.ValidationError) -> FieldError:
    """A field error from msgspec's "Expected `int`, got `str` - at `$[2]`"."""
    message, _, location = str(exc).partition(" - at `$")
    return FieldError(field + location.rstrip("`"), message)
