"""The one validation path of both apps: msgspec decoding that names every invalid field."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any, TypeVar
from uuid import UUID

import msgspec

from core.errors import FieldError, InvalidInput

StructT = TypeVar("StructT", bound=msgspec.Struct)


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
    too_large = PayloadTooLarge(f"the body must be at most {limit} bytes")
    if declared_length is not None and declared_length.isdigit() and int(declared_length) > limit:
        raise too_large
    body = bytearray()
    async for chunk in chunks:
        body += chunk
        if len(body) > limit:
            raise too_large
    return bytes(body)


def decode_body(body: bytes, struct_type: type[StructT]) -> StructT:
    """Decode a JSON body strictly; raise `InvalidInput` naming every invalid field."""
    try:
        return msgspec.json.decode(body, type=struct_type)
    except msgspec.ValidationError as exc:
        raise InvalidInput(
            _field_errors(_untyped_json(body), struct_type, strict=True) or [_error("body", exc)]
        ) from None
    except (msgspec.DecodeError, RecursionError):
        raise MalformedBody("the body is not valid JSON") from None


def decode_query(params: Mapping[str, str], struct_type: type[StructT]) -> StructT:
    """Convert query parameters (text) to `struct_type`; raise `InvalidInput` naming every invalid one."""
    try:
        return msgspec.convert(params, struct_type, strict=False)
    except msgspec.ValidationError as exc:
        raise InvalidInput(_field_errors(params, struct_type, strict=False) or [_error("query", exc)]) from None


def decode_id(value: str) -> UUID:
    """A resource id from a path parameter."""
    try:
        return UUID(value)
    except ValueError:
        raise InvalidInput([FieldError("id", "must be a UUID")]) from None


def _untyped_json(body: bytes) -> Any:
    try:
        return msgspec.json.decode(body)
    except RecursionError:
        raise MalformedBody("the body is nested too deeply") from None


def _field_errors(data: Any, struct_type: type[msgspec.Struct], *, strict: bool) -> list[FieldError]:
    if not isinstance(data, dict):
        return [FieldError("body", "must be a JSON object")]
    fields = msgspec.structs.fields(struct_type)
    errors = []
    if struct_type.__struct_config__.forbid_unknown_fields:
        known = {field.encode_name for field in fields}
        errors += [FieldError(str(key), "is not a known field") for key in data if key not in known]
    for field in fields:
        if field.encode_name not in data:
            if field.required:
                errors.append(FieldError(field.encode_name, "is required"))
            continue
        try:
            msgspec.convert(data[field.encode_name], field.type, strict=strict)
        except msgspec.ValidationError as exc:
            errors.append(_error(field.encode_name, exc))
    return errors


def _error(field: str, exc: msgspec.ValidationError) -> FieldError:
    """A field error from msgspec's "Expected `int`, got `str` - at `$[2]`"."""
    message, _, location = str(exc).partition(" - at `$")
    return FieldError(field + location.rstrip("`"), message)
