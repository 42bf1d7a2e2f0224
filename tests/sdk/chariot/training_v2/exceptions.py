"""The SDK's exceptions: the two the reference defines, with its constructors. Whether they keep their arguments
as attributes is not documented: the ``errors`` variant chooses."""

from __future__ import annotations

from typing import Any

from chariot.training_v2._base import OpenApiException as _OpenApiException
from chariot.training_v2._variants import variant as _variant


class ApiException(_OpenApiException):
    def __init__(self, status=None, reason=None, http_resp=None, *, body: str | None = None, data: Any | None = None):
        # the generated client's words: "(status)\nReason: reason\n" then the body
        super().__init__(f"({status})\nReason: {reason}\n" + (f"HTTP response body: {body}\n" if body else ""))
        if _variant("errors") == "attributes":
            self.status, self.reason, self.http_resp, self.body, self.data = status, reason, http_resp, body, data


class BlueprintDoesNotExistError(Exception):
    def __init__(self, id: str | None = None, name: str | None = None, version_ilike: str | None = None):
        super().__init__(f"blueprint id={id} name={name} version_ilike={version_ilike} does not exist")
        if _variant("errors") == "attributes":
            self.id, self.name, self.version_ilike = id, name, version_ilike
