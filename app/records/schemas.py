"""The export of a client's whole record."""

from typing import Any

from pydantic import BaseModel

from app.metrics.schemas import ClientMetrics


class ClientExport(BaseModel):
    exported_at: str
    client: dict[str, Any]
    care_team: list[dict[str, Any]]
    assignments: list[dict[str, Any]]
    template_versions: list[dict[str, Any]]
    completions: list[dict[str, Any]]
    comments: list[dict[str, Any]]
    goals: list[dict[str, Any]]
    achievements: list[dict[str, Any]]
    metrics: ClientMetrics
