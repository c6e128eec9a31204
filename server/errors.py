"""Errors answered as JSON ``{"detail": "<one line>", "field": "<name or null>"}``."""

from __future__ import annotations


class ApiError(Exception):
    def __init__(self, status: int, detail: str, field: str | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.field = field


def not_found(what: str) -> ApiError:
    return ApiError(404, f"{what} not found")
