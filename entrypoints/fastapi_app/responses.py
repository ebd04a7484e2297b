"""The responses the path operations return: JSON that msgspec encodes, as FastAPI's ORJSONResponse does with orjson."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from fastapi.responses import JSONResponse

from entrypoints.http.dto import Problem
from entrypoints.http.problems import PROBLEM_MEDIA_TYPE


class MsgspecJSONResponse(JSONResponse):
    """A JSON response whose content, a msgspec Struct, msgspec encodes straight to bytes.

    A path operation that returns a Response is sent as it is: FastAPI neither validates nor serialises it again.
    """

    def render(self, content: Any) -> bytes:
        return msgspec.json.encode(content)


class ProblemResponse(MsgspecJSONResponse):
    """An RFC 9457 problem document, sent with its own status."""

    media_type = PROBLEM_MEDIA_TYPE

    def __init__(self, problem: Problem, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(problem, status_code=problem.status, headers=headers)
