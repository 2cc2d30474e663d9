"""Errors of the clinics domain."""

from app.core.errors import Conflict, NotFound, Unprocessable


class ClientNotFound(NotFound):
    slug = "client-not-found"


class ExternalIdTaken(Conflict):
    slug = "external-id-taken"


class InvalidTherapist(Unprocessable):
    slug = "invalid-therapist"
