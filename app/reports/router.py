"""A client's progress report: JSON, a PDF, or one chart as SVG, by content negotiation."""

import uuid
from datetime import date
from typing import Annotated, Any

from fastapi import Depends, Header, Query
from fastapi.responses import JSONResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.auth.policy import CLIENTS, EVERYONE, READ, Policy
from app.auth.principal import Principal
from app.clinics.repository import get_visible_client
from app.core import audit
from app.core.db import SessionDep
from app.core.errors import AppError, Forbidden, Problem, Unprocessable, field_error
from app.core.routing import DomainRouter, problem_responses
from app.core.time import utcnow
from app.core.types import CalendarDate
from app.reports.render import pdf_of, svg_of
from app.reports.schemas import Audience, ChartName, ClientReport, Paper
from app.reports.service import build_report, window

router = DomainRouter(tags=["reports"], responses=problem_responses(401, 403))
# A report is an export of the client's data: audited as `export` of `report`.
ReportReader = Annotated[
    Principal, Depends(Policy(EVERYONE, READ, api_clients=True, audit="report"))
]
OwnReportReader = Annotated[Principal, Depends(Policy(CLIENTS, READ, audit="report"))]

JSON, PDF, SVG = "application/json", "application/pdf", "image/svg+xml"


class NotAcceptable(AppError):
    status, slug, title = 406, "not-acceptable", "Not Acceptable"


FromDate = Annotated[
    CalendarDate | None, Query(alias="from", description="Default: 83 days before `to`.")
]
ToDate = Annotated[
    CalendarDate | None, Query(alias="to", description="Default: today (client's zone).")
]
ChartParam = Annotated[
    ChartName | None,
    Query(description="One chart alone, as `image/svg+xml` (the only type a chart comes in)."),
]
PaperParam = Annotated[
    Paper | None,
    Query(
        description="PDF paper size; default: Letter where the clinic's zone is in a country "
        "that uses it (US, Canada, Mexico...), else A4."
    ),
]
AudienceParam = Annotated[
    Audience | None,
    Query(description="Staff may ask for the client's copy (`client`); a client always gets it."),
]
AcceptHeader = Annotated[str | None, Header(max_length=1000)]

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report: JSON (the default), a PDF (`Accept: application/pdf`), or "
        "with `?chart=` one chart as SVG (`Accept: image/svg+xml`, or any).",
        "content": {
            PDF: {"schema": {"type": "string", "format": "binary"}},
            SVG: {"schema": {"type": "string"}},
        },
        "headers": {"Vary": {"description": "Accept", "schema": {"type": "string"}}},
    },
    406: {
        "model": Problem,
        "description": "`Accept` names none of the types this report comes in: "
        "application/json or application/pdf, or image/svg+xml with `?chart=`; the problem's "
        "`available` lists them.",
    },
    **problem_responses(404),
}


def _ranges(accept: str) -> list[tuple[str, float]]:
    found = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if not media:
            continue
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        found.append((media.lower(), quality))
    return found


def negotiate(accept: str | None, offered: list[str]) -> str:
    """The offered type the Accept header prefers (RFC 9110 §12.5.1: the most specific range
    that matches gives an offer its quality); ties go to the first offered. No header: the
    first offered."""
    if not accept or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    best, best_quality = None, 0.0
    for offer in offered:
        kind = offer.split("/")[0]
        quality, specificity = 0.0, -1
        for media, q in ranges:
            level = (
                2 if media == offer else 1 if media == f"{kind}/*" else 0 if media == "*/*" else -1
            )
            if level > specificity:
                quality, specificity = q, level
        if quality > best_quality:
            best, best_quality = offer, quality
    if best is None:
        raise NotAcceptable(
            f"This report comes as {', '.join(offered)}"
            + ("" if SVG in offered else "; a chart (?chart=) comes as image/svg+xml")
            + ".",
            available=offered,
        )
    return best


async def _answer(
    session: AsyncSession,
    client: User,
    principal: Principal,
    *,
    start: date | None,
    end: date | None,
    chart: ChartName | None,
    paper: Paper | None,
    audience: Audience | None,
    accept: str | None,
) -> Response:
    media_type = negotiate(accept, [SVG] if chart else [JSON, PDF])
    if principal.is_client:
        if audience is Audience.clinician:
            raise Forbidden("The clinician's report is for the care team; yours is `client`.")
        audience = Audience.client
    audience = audience or Audience.clinician
    now = utcnow()
    window_start, window_end = window(client, now, start, end)
    audit.note(action="export")
    report = await build_report(
        session, client, window_start, window_end, now, audience=audience, paper=paper
    )
    headers = {"Vary": "Accept", "Cache-Control": "no-store"}
    name = f"progress-report-{window_start.isoformat()}-{window_end.isoformat()}"
    if media_type == JSON:
        return JSONResponse(report.model_dump(mode="json", by_alias=True), headers=headers)
    if media_type == PDF:
        content = await pdf_of(report)
        headers["Content-Disposition"] = f'inline; filename="{name}.pdf"'
        return Response(content, media_type=PDF, headers=headers)
    assert chart is not None
    content = await svg_of(report, chart)
    headers["Content-Disposition"] = f'inline; filename="{name}-{chart.value}.svg"'
    return Response(content, media_type=SVG, headers=headers)


def _check_paper(paper: Paper | None, chart: ChartName | None) -> None:
    if paper is not None and chart is not None:
        raise Unprocessable(
            "`paper` is for the PDF; a chart has no paper size.",
            errors=[field_error(["query", "paper"], "Not with chart", "conflict")],
        )


@router.get(
    "/clients/{client_id}/report",
    operation_id="getClientReport",
    summary="A progress report: JSON, a PDF to print or file, or one chart as SVG",
    response_model=ClientReport,
    response_model_by_alias=True,
    responses=_RESPONSES,
)
async def get_client_report(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReportReader,
    start: FromDate = None,
    end: ToDate = None,
    chart: ChartParam = None,
    paper: PaperParam = None,
    audience: AudienceParam = None,
    accept: AcceptHeader = None,
) -> Response:
    """Built from the metrics of the window (`metrics` is exactly what `/metrics` answers for
    it) and made on the fly, never stored: audited as an `export` of the client's data. The
    client themself gets their own copy (no risk flags, no review state, kinder wording)."""
    _check_paper(paper, chart)
    client = await get_visible_client(session, principal, client_id)
    return await _answer(
        session,
        client,
        principal,
        start=start,
        end=end,
        chart=chart,
        paper=paper,
        audience=audience,
        accept=accept,
    )


@router.get(
    "/me/report",
    operation_id="getMyReport",
    summary="The signed-in client's own progress report (JSON, PDF or one chart as SVG)",
    response_model=ClientReport,
    response_model_by_alias=True,
    responses=_RESPONSES,
)
async def get_my_report(
    session: SessionDep,
    principal: OwnReportReader,
    start: FromDate = None,
    end: ToDate = None,
    chart: ChartParam = None,
    paper: PaperParam = None,
    accept: AcceptHeader = None,
) -> Response:
    _check_paper(paper, chart)
    client = await get_visible_client(session, principal, principal.id)
    return await _answer(
        session,
        client,
        principal,
        start=start,
        end=end,
        chart=chart,
        paper=paper,
        audience=Audience.client,
        accept=accept,
    )
