"""Domain errors. Web turns them into problem+json or an error page; the CLI into one line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class FieldError:
    field: str
    message: str


class DomainError(Exception):
    type_slug = "error"
    status = 400
    title = "Request could not be processed"

    def __init__(self, detail: str, *, errors: list[FieldError] | None = None):
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or []


class ValidationFailed(DomainError):
    type_slug = "validation-failed"
    status = 422
    title = "Some values are not valid"


class NotFound(DomainError):
    type_slug = "not-found"
    status = 404
    title = "Not found"


class Forbidden(DomainError):
    type_slug = "forbidden"
    status = 403
    title = "Not allowed"


class Unauthenticated(DomainError):
    type_slug = "unauthenticated"
    status = 401
    title = "Sign-in required"


class Conflict(DomainError):
    type_slug = "conflict"
    status = 409
    title = "Conflicting change"


class RateLimited(DomainError):
    type_slug = "rate-limited"
    status = 429
    title = "Too many attempts"


class PayloadTooLarge(DomainError):
    type_slug = "payload-too-large"
    status = 413
    title = "Request too large"


@dataclass
class ErrorReport:
    """Row-and-column errors of a bulk import."""

    errors: list[FieldError] = field(default_factory=list)

    def add(self, where: str, message: str) -> None:
        self.errors.append(FieldError(where, message))

    def raise_if_any(self, detail: str) -> None:
        if self.errors:
            raise ValidationFailed(detail, errors=self.errors)
