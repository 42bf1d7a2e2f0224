"""What our REST client sends and what it makes of the answers: query strings and bodies built from the SDK's
arguments (or what is wrong with them, before anything is sent), and every answer and failure mapped into the one
error tree (``chariot.errors``). The client's single boundary (``AsyncChariotClient._send``) calls these."""

from __future__ import annotations

import json
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError

from chariot_apply.chariot import rest_api as rest
from chariot_apply.chariot.backend import matches_nothing
from chariot_apply.chariot.errors import (
    ApiException,
    ConfigError,
    InvalidArgumentError,
    NotFoundError,
    TransportError,
    WriteOutcomeUnknownError,
    error_for_status,
)
from chariot_apply.diagnostics.errors import describe_validation

M = TypeVar("M", bound=BaseModel)

# Errors after which a request may have reached the server.
_MAYBE_SENT = (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError, httpx.ReadTimeout,
               httpx.WriteTimeout, httpx.CloseError)


def query(model: type[rest.Query], filters: dict[str, Any]) -> rest.Query:
    values = {k: list(v) if isinstance(v, (list, tuple, set, frozenset)) else v for k, v in filters.items()}
    try:
        return model.model_validate(values)
    except PydanticValidationError as exc:
        raise InvalidArgumentError(describe_validation(exc)) from None


def missing(exc: NotFoundError, by_subject: dict[str, type[NotFoundError]],
             otherwise: type[NotFoundError]) -> NotFoundError:
    """A 404 of a request that names several things, as the error of the one its message says is missing."""
    words = exc.message.lower()
    kind = next((k for subject, k in by_subject.items() if words.startswith(subject) or f" {subject} " in words),
                otherwise)
    if type(exc) is kind:
        return exc
    return kind(message=exc.message, status=exc.status, reason=exc.reason, body=exc.body,
                request_id=exc.request_id)


def body(model: type[M], **fields: Any) -> M:
    """A request body, or what is wrong with the arguments as ``InvalidArgumentError`` (never pydantic's own
    error past our tree): nothing was sent."""
    try:
        return model(**fields)
    except PydanticValidationError as exc:
        raise InvalidArgumentError(describe_validation(exc)) from None


def query_matches_nothing(query: rest.Query) -> bool:
    return matches_nothing({name: getattr(query, name) for name in query.list_fields})


def created(response: httpx.Response) -> str:
    """The id a create answered with. A success whose body cannot be read still means the write happened (or may
    have): outcome unknown, to be looked up, never "nothing was sent"."""
    try:
        return parse(response, rest.Created).id
    except TransportError as exc:
        raise WriteOutcomeUnknownError(f"{exc.message}; the create answered {response.status_code}, so it may have "
                                       "happened") from None


def parse(response: httpx.Response, model: type[M]) -> M:
    try:
        return model.model_validate_json(response.content)
    except PydanticValidationError as exc:
        raise TransportError(
            f"unexpected answer from {response.request.method} {response.request.url.path}: "
            f"{describe_validation(exc)[:300]}",
            hint="is CHARIOT_URL the root of a Chariot server?",
        ) from None


def transport_error(method: str, path: str, exc: httpx.HTTPError, *, safe: bool) -> TransportError:
    what = f"{method} {path}: {type(exc).__name__}: {exc}".rstrip(": ")
    if not safe and isinstance(exc, _MAYBE_SENT):
        return WriteOutcomeUnknownError(f"no answer to {what}; the write may have happened")
    if isinstance(exc, httpx.TimeoutException):
        return TransportError(f"timed out: {what}")
    return TransportError(f"could not reach Chariot: {what}")


def api_error(response: httpx.Response, not_found: type[NotFoundError]) -> ApiException:
    status = response.status_code
    body = response.text
    request_id = response.headers.get(rest.REQUEST_ID_HEADER) or response.request.headers.get(
        rest.REQUEST_ID_HEADER)
    envelope: rest.ErrorBody | None = None
    try:
        envelope = rest.ErrorBody.model_validate(json.loads(body))
    except (ValueError, PydanticValidationError):
        envelope = None
    kwargs: dict[str, Any] = {"reason": response.reason_phrase, "body": body[:2000], "request_id": request_id}
    if envelope is None:
        message = body.strip()[:200] or response.reason_phrase
        if status == 404:
            return NotFoundError(status, message=f"{response.request.method} {response.request.url.path}: {message}",
                                 hint="the server has no such route: is CHARIOT_URL the Chariot root URL?",
                                 **kwargs)
    else:
        message = envelope.error
    problems = [ConfigError(e.path, e.message) for e in (envelope.errors or [])] if envelope else []
    return error_for_status(status, message, problems=problems, not_found=not_found, **kwargs)
