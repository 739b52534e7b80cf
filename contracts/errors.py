"""Domain refusals that name the input field at fault (they become 422 problems at the API)."""

from __future__ import annotations


class FieldError(ValueError):
    """A value the rules refuse; `field` is its dotted path in the request (e.g. `citizen.phone`)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
