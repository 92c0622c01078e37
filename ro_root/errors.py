"""User-facing errors: one clear line, a non-zero exit, no traceback."""

from __future__ import annotations

from typing import NoReturn


class UserError(Exception):
    """An error caused by input or environment that the user can fix."""

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        if self.hint:
            return f"{self.message} ({self.hint})"
        return self.message


def die(message: str, hint: str | None = None) -> NoReturn:
    """Abort the current command with a user error."""
    raise UserError(message, hint)
