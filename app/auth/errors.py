"""Errors of the identity domain."""

from app.core.errors import Conflict, NotFound, Unprocessable


class UserNotFound(NotFound):
    slug = "user-not-found"


class EmailTaken(Conflict):
    slug = "email-taken"


class WeakPassword(Unprocessable):
    slug = "weak-password"
