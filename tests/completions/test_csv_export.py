"""The CSV export opens safely in a spreadsheet, and each export leaves an `export` audit row."""

import csv
import io
import uuid

import pytest
from sqlalchemy import select, update

from app.assignments.models import Assignment
from app.completions.export import FORMULA_STARTS, _cell, neutralize
from app.core.audit import AuditEvent
from app.templates.schemas import TemplateCreate
from app.templates.service import create_template
from tests.factories import make_assignment, make_completion, principal_of

# OWASP's list of first characters a spreadsheet takes for a formula.
DANGEROUS = {"equals": "=", "plus": "+", "minus": "-", "at": "@", "tab": "\t", "cr": "\r"}
TITLE = 'HYPERLINK("https://evil.example")'


async def export(client, world, query: str = "") -> list[list[str]]:
    response = await client.get(
        f"/v1/completions{query}", headers={**world.auth("therapist"), "Accept": "text/csv"}
    )
    assert response.status_code == 200, response.text
    # newline="" keeps a carriage return inside a quoted cell part of the cell.
    return list(csv.reader(io.StringIO(response.text, newline="")))


async def free_text_everywhere(db, world, start: str):
    """A therapist's template and assignment and a client's answers, notes and skip note, every
    text beginning with `start`."""
    body = TemplateCreate.model_validate(
        {
            "slug": f"words-{uuid.uuid4().hex[:6]}",
            "kind": "journal",
            "title": f"{start}{TITLE}",
            "instructions": "One word for today.",
            "estimated_minutes": 1,
            "fields": [{"key": "word", "type": "text", "label": f"{start}1+1", "required": True}],
        }
    )
    template = await create_template(db, principal_of(world.therapist), body)
    assignment = await make_assignment(db, world.therapist, world.client, template_id=template.id)
    await db.execute(
        update(Assignment).where(Assignment.id == assignment.id).values(title=f"{start}2+3")
    )
    await make_completion(
        db,
        world.client,
        assignment,
        status="done",
        responses={"word": f"{start}cmd|' /C calc'!A0"},
        note=f"{start}SUM(A1:A9)",
    )
    await make_completion(db, world.client, assignment, skip_note=f"{start}A1")
    await db.commit()


@pytest.mark.parametrize("start", DANGEROUS.values(), ids=DANGEROUS.keys())
async def test_no_exported_cell_starts_like_a_formula(client, world, db, start):
    await free_text_everywhere(db, world, start)
    header, *rows = await export(client, world)
    assert len(rows) == 2
    for row in [header, *rows]:
        assert not [cell for cell in row if cell.startswith(FORMULA_STARTS)], row
    column = {name: i for i, name in enumerate(header)}
    done = next(r for r in rows if r[column["status"]] == "done")
    skipped = next(r for r in rows if r[column["status"]] == "skipped")
    assert done[column["note"]] == f"'{start}SUM(A1:A9)"
    assert skipped[column["skip_note"]] == f"'{start}A1"
    assert done[column["assignment_title"]] == f"'{start}2+3"
    word = next(i for name, i in column.items() if name.startswith("word ("))
    assert done[word] == f"'{start}cmd|' /C calc'!A0"
    # Titles are stripped of surrounding white space when stored; what is left is neutralized.
    assert done[column["template_title"]] == neutralize(f"{start}{TITLE}".strip())


def test_numbers_stay_numbers_and_safe_text_is_left_alone():
    assert neutralize("Felt calmer after 10 minutes") == "Felt calmer after 10 minutes"
    assert neutralize("-3 degrees outside") == "'-3 degrees outside"
    assert _cell(-3) == "-3" and _cell(2.5) == "2.5"
    assert _cell(["=1+1", "calm"]) == "'=1+1; calm"
    assert set(FORMULA_STARTS) == set(DANGEROUS.values())


async def audit_rows(db):
    await db.rollback()
    stmt = select(AuditEvent).where(AuditEvent.resource_type == "completion")
    return list((await db.execute(stmt.order_by(AuditEvent.occurred_at))).scalars())


async def test_an_export_about_one_client_is_audited_as_export_with_the_client(client, world, db):
    await make_completion(db, world.client, world.assignment)
    await db.commit()
    await export(client, world, f"?client_id={world.client.id}")
    await export(client, world, f"?assignment_id={world.assignment.id}")
    found = await audit_rows(db)
    assert [(r.action, r.client_id, r.actor_id) for r in found] == [
        ("export", world.client.id, world.therapist.id),
        ("export", world.client.id, world.therapist.id),
    ]


async def test_an_export_across_clients_is_audited_as_export_without_a_client(client, world, db):
    await export(client, world)
    listed = await client.get("/v1/completions", headers=world.auth("therapist"))
    assert listed.status_code == 200
    found = await audit_rows(db)
    assert [(r.action, r.client_id) for r in found] == [("export", None), ("read", None)]
