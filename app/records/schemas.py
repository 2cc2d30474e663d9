"""The export of a client's whole record."""

from typing import Any

from pydantic import BaseModel, Field

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
    group_memberships: list[dict[str, Any]] = Field(
        description="The client's stints in therapy groups, with the name they showed."
    )
    group_shares: list[dict[str, Any]] = Field(
        description="What the client shares with their groups now (withdrawn items are gone)."
    )
    metrics: ClientMetrics
