"""One transaction per request: committed before the answer, rolled back on any error."""

import httpx
from fastapi import APIRouter
from sqlalchemy import func, select

from app.clinics.models import Clinic
from app.core.db import SessionDep
from app.core.errors import Conflict
from app.core.routing import ProblemRoute
from app.main import create_app
from tests.conftest import make_settings


def _app(settings):
    app = create_app(settings)
    router = APIRouter(route_class=ProblemRoute)

    @router.post("/probe/clinics", status_code=201, operation_id="probeCreate")
    async def create(session: SessionDep) -> dict[str, str]:
        clinic = Clinic(name="Committed", timezone="UTC")
        session.add(clinic)
        await session.flush()
        return {"id": str(clinic.id)}

    @router.post("/probe/clinics-then-conflict", operation_id="probeConflict")
    async def create_then_fail(session: SessionDep) -> dict[str, str]:
        session.add(Clinic(name="Rolled back", timezone="UTC"))
        await session.flush()
        raise Conflict("no")

    @router.post("/probe/commit-fails", status_code=201, operation_id="probeCommitFails")
    async def commit_fails(session: SessionDep) -> dict[str, str]:
        # Two rows with one primary key: nothing fails until the commit flushes them.
        clinic = Clinic(name="Twin", timezone="UTC")
        session.add(clinic)
        await session.flush()
        session.expunge(clinic)
        session.add(Clinic(id=clinic.id, name="Twin", timezone="UTC"))
        return {"id": str(clinic.id)}

    app.include_router(router)
    return app


async def _count(app, name: str) -> int:
    async with app.state.sessionmaker() as session:
        return await session.scalar(select(func.count()).where(Clinic.name == name))


async def _run(database_url, method_path):
    app = _app(make_settings(database_url))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            response = await http.post(method_path)
        return app, response
    except Exception:
        await app.state.engine.dispose()
        raise


async def test_a_successful_write_is_committed_before_the_answer(database_url, client):
    app, response = await _run(database_url, "/probe/clinics")
    assert response.status_code == 201
    assert await _count(app, "Committed") == 1
    await app.state.engine.dispose()


async def test_an_error_rolls_back_what_the_handler_wrote(database_url, client):
    app, response = await _run(database_url, "/probe/clinics-then-conflict")
    assert response.status_code == 409
    assert await _count(app, "Rolled back") == 0
    await app.state.engine.dispose()


async def test_a_failed_commit_is_an_error_answer_never_a_2xx(database_url, client):
    app, response = await _run(database_url, "/probe/commit-fails")
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    assert await _count(app, "Twin") == 0
    await app.state.engine.dispose()
