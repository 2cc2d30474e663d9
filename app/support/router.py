"""Support signals: a client's episodes, acknowledging the open one, the clinic's rules."""

import uuid
from typing import Annotated

from fastapi import Depends, Response

from app.auth.policy import READ, STAFF, WRITE, AdminWriter, Policy
from app.auth.principal import Principal
from app.core.db import SessionDep
from app.core.etag import IfMatch, set_etag
from app.core.pagination import ListParamsDep, Page
from app.core.routing import DomainRouter, problem_responses
from app.support import service
from app.support.schemas import SupportEpisodeRead, SupportRulesRead, SupportRulesUpdate

router = DomainRouter(tags=["support"], responses=problem_responses(401, 403))
# The care team's view: clients never see their own signal (it is a clinical note about
# them, worded for the therapist), and integrations read it as they read the caseload.
EpisodeReader = Annotated[
    Principal, Depends(Policy(STAFF, READ, api_clients=True, audit="support_episode"))
]
# Acknowledging is a person's act: the episode records who did it.
EpisodeAcknowledger = Annotated[Principal, Depends(Policy(STAFF, WRITE, audit="support_episode"))]
RulesReader = Annotated[Principal, Depends(Policy(STAFF, READ, api_clients=True))]


@router.get(
    "/clients/{client_id}/support-episodes",
    operation_id="listSupportEpisodes",
    summary="A client's support episodes, newest first",
    responses=problem_responses(404),
)
async def list_support_episodes(
    client_id: uuid.UUID, session: SessionDep, principal: EpisodeReader, params: ListParamsDep
) -> Page[SupportEpisodeRead]:
    return await service.list_episodes(session, principal, client_id, params)


@router.post(
    "/clients/{client_id}/support/acknowledge",
    operation_id="acknowledgeSupportSignal",
    summary="Acknowledge a client's open support signal (clears it from the caseload)",
    responses=problem_responses(404, 409),
)
async def acknowledge_support_signal(
    client_id: uuid.UUID, session: SessionDep, principal: EpisodeAcknowledger
) -> SupportEpisodeRead:
    """Announced as `client.support_cleared`. The episode stays open (`acknowledged`) until no
    rule trips any more, so the same struggle is not signalled again; acknowledging it again
    answers it unchanged. 409 when the client has no open signal."""
    return await service.acknowledge(session, principal, client_id)


@router.get(
    "/support-rules",
    operation_id="getSupportRules",
    summary="The caller's clinic's rules for raising support signals",
)
async def get_support_rules(
    session: SessionDep, principal: RulesReader, response: Response
) -> SupportRulesRead:
    read = await service.get_rules(session, principal)
    set_etag(response, read.version)
    return read


@router.patch(
    "/support-rules",
    operation_id="updateSupportRules",
    summary="Change the clinic's support rules (admin); null turns a rule off",
    responses=problem_responses(412),
)
async def update_support_rules(
    body: SupportRulesUpdate,
    session: SessionDep,
    principal: AdminWriter,
    response: Response,
    if_match: IfMatch = None,
) -> SupportRulesRead:
    read = await service.update_rules(session, principal, body, if_match)
    set_etag(response, read.version)
    return read
