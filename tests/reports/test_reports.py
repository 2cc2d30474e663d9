"""The progress report: JSON, PDF and SVG charts of one window, checked against `/metrics`.

The PDF is rendered to PNG pages with poppler's `pdftoppm` (Debian's poppler-utils, which
`make test` installs when missing and root), its text extracted with pypdf; each SVG chart is
parsed as XML and its data points read back from the drawing.
"""

import base64
import hashlib
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from app.core.audit import AuditEvent
from app.reports import router as report_router
from app.reports.charts import DAY_COLOURS
from app.reports.schemas import DayStatus, Paper
from app.reports.service import default_paper
from tests.fhir.fhir_checks import validated
from tests.reports.conftest import FROM, PHQ9, TO, WINDOW

PDF, SVG = "application/pdf", "image/svg+xml"
NOW = datetime(2026, 4, 2, 14, 30, tzinfo=UTC)
PDFTOPPM = shutil.which("pdftoppm")


@pytest.fixture
def frozen_now(monkeypatch):
    """The report's `generated_at`: fixed, so that two answers can be compared byte for byte."""
    monkeypatch.setattr(report_router, "utcnow", lambda: NOW)


async def _report(client, world, who="therapist", accept=None, path=None, **params):
    headers = world.auth(who) | ({"Accept": accept} if accept else {})
    url = path or f"/v1/clients/{world.client.id}/report"
    return await client.get(url, params={**WINDOW, **params}, headers=headers)


def _svg(content: bytes) -> ET.Element:
    return ET.fromstring(content)  # noqa: S314 - our own answer, not untrusted input


def _group(svg: ET.Element, gid: str) -> ET.Element:
    found = [e for e in svg.iter() if e.get("id") == gid]
    assert len(found) == 1, gid
    return found[0]


def _points(group: ET.Element) -> list[tuple[float, float]]:
    path = next(e for e in group.iter() if e.tag.endswith("path"))
    numbers = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", path.get("d", ""))]
    return list(zip(numbers[::2], numbers[1::2], strict=True))


def _fill(group: ET.Element) -> str:
    path = next(e for e in group.iter() if e.tag.endswith("path"))
    return re.search(r"fill: (#[0-9a-f]{6})", path.get("style", "")).group(1)


def _linear(values: list[float], drawn: list[float]) -> None:
    """Drawn coordinates are one affine map of the values (same scale between every pair)."""
    (v0, d0), (v1, d1) = (values[0], drawn[0]), (values[-1], drawn[-1])
    scale = (d1 - d0) / (v1 - v0)
    for value, coordinate in zip(values, drawn, strict=True):
        assert coordinate == pytest.approx(d0 + (value - v0) * scale, abs=0.05)


async def test_the_json_report_holds_the_metrics_of_the_window_and_the_details(
    client, world, history
):
    report = await _report(client, world)
    assert report.status_code == 200, report.text
    assert report.headers["content-type"] == "application/json"
    assert report.headers["vary"] == "Accept"
    body = report.json()
    metrics = await client.get(
        f"/v1/clients/{world.client.id}/metrics", params=WINDOW, headers=world.auth("therapist")
    )
    assert body["metrics"] == metrics.json()
    assert (body["from"], body["to"], body["audience"]) == (str(FROM), str(TO), "clinician")
    days = {d["date"]: d for d in body["calendar"]}
    assert len(days) == (TO - FROM).days + 1
    assert days["2026-03-02"]["status"] == "done"
    assert (days["2026-03-04"]["status"], days["2026-03-04"]["skip_reasons"]) == (
        "skipped",
        ["no_time"],
    )
    assert days["2026-03-06"]["status"] == "missed"
    # Sunday the 8th: the PHQ-9 done, the thought record not: partly.
    assert days["2026-03-08"]["status"] == "partly"
    assert [w["minutes"] for w in body["weeks"]] == [35, 40, 35, 20]
    assert sum(w["minutes"] for w in body["weeks"]) == body["metrics"]["minutes_practised"]
    (phq,) = body["measures"]
    assert [p["total"] for p in phq["points"]] == [t for t, _, _ in PHQ9.values()]
    assert [b["code"] for b in phq["bands"]][:3] == ["minimal", "mild", "moderate"]
    assert phq["risk_marks"] == [{"date": "2026-03-08", "total": 17, "flags": ["self_harm"]}]
    assert body["risk_flagged"] == 1
    assert (
        "PHQ-9 fell from 17 (moderately severe) to 11 (moderate) over 3 weeks (4 scores)."
        in (body["summary"])
    )
    (item,) = body["to_discuss"]
    assert (item["date"], item["note"], item["reviewed"]) == (
        "2026-03-12",
        "The meeting thought came back.",
        False,
    )
    (goal,) = body["goals"]
    assert (goal["steps_done"], goal["steps_total"]) == (0, 3)
    assert body["charts"] == ["calendar", "measures", "mood", "minutes"]


def _render_pages(pdf: bytes, tmp_path: Path) -> list[Path]:
    if PDFTOPPM is None:
        pytest.skip(
            "PDFTOPPM MISSING: install poppler-utils (`make test` does it when root) to render "
            "the PDF report to PNG pages"
        )
    source = tmp_path / "report.pdf"
    source.write_bytes(pdf)
    subprocess.run([PDFTOPPM, "-r", "72", "-png", source, tmp_path / "page"], check=True)
    return sorted(tmp_path.glob("page-*.png"))


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[16:24]
    return int.from_bytes(header[:4], "big"), int.from_bytes(header[4:], "big")


async def test_the_pdf_renders_to_pages_whose_numbers_are_the_metrics(
    client, world, history, tmp_path
):
    response = await _report(client, world, accept=PDF)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == PDF
    assert response.headers["content-disposition"] == (
        'inline; filename="progress-report-2026-03-02-2026-03-29.pdf"'
    )
    pages = _render_pages(response.content, tmp_path)
    assert 1 <= len(pages) <= 3
    # The clinic is in Berlin: A4, 595.28 x 841.89 points, so at 72 dpi pages of that many
    # pixels (rounded up).
    for page in pages:
        width, height = _png_size(page)
        assert (width - 595.28, height - 841.89) == (pytest.approx(0.5, abs=0.5),) * 2
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == len(pages)
    text = "\n".join(page.extract_text() for page in reader.pages)
    metrics = (
        await client.get(
            f"/v1/clients/{world.client.id}/metrics", params=WINDOW, headers=world.auth("therapist")
        )
    ).json()
    a = metrics["adherence"]
    assert (
        f"{a['rate'] * 100:.1f}% ({a['completed']} of {a['scheduled'] - a['paused']} done)" in text
    )
    assert f"{a['skipped']} / {a['missed']}" in text
    assert f"Minutes practised {metrics['minutes_practised']}" in text
    mood = metrics["mood"]
    assert f"{mood['average_before']:g} → {mood['average_after']:g}" in text
    assert f"longest {metrics['streaks']['longest']} days" in text
    totals = [p["total"] for p in metrics["measures"][0]["series"]]
    assert "PHQ-9: " + "; ".join(
        f"{d:02d} Mar: {t}" for d, t in zip(PHQ9, totals, strict=True)
    ) in text.replace(" moderately severe", "").replace(" moderate", "").replace(" (risk flag)", "")
    assert world.client.display_name in text and world.clinic.name in text
    assert "Therapists: " + world.therapist.display_name in text
    assert "Generated 2026-" in text and "(America/New_York)" in text
    assert "Risk-flagged completions 1" in text


async def test_the_pdf_draws_its_charts_as_vectors_with_selectable_text(client, world, history):
    response = await _report(client, world, accept=PDF)
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    # The charts' titles, legends, severity bands and point labels are text in the PDF...
    for label in (
        "Homework, day by day",
        "Done (10)",
        "PHQ-9 total",
        "Moderately severe",
        "Risk flag (item 9)",
        "Minutes practised per week",
        "Discomfort, SUDS (0-100)",
    ):
        assert label in text, label
    # ...and nothing is a picture: no image XObjects on any page.
    for page in reader.pages:
        xobjects = page["/Resources"].get("/XObject", {})
        assert all(x.get_object()["/Subtype"] != "/Image" for x in xobjects.values())


async def test_letter_paper_by_parameter_and_by_the_clinic_zone(client, world, history, tmp_path):
    response = await _report(client, world, accept=PDF, paper="letter")
    box = PdfReader(io.BytesIO(response.content)).pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (612, 792)
    assert default_paper("America/New_York") is Paper.letter
    assert default_paper("America/Toronto") is Paper.letter
    assert default_paper("US/Eastern") is Paper.letter
    assert default_paper("America/Sao_Paulo") is Paper.a4
    assert default_paper("Europe/Berlin") is Paper.a4
    assert default_paper("UTC") is Paper.a4


async def test_each_chart_is_an_svg_whose_drawing_holds_the_data_points(client, world, history):
    body = (await _report(client, world)).json()
    charts = {}
    for name in body["charts"]:
        response = await _report(client, world, chart=name)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == SVG
        charts[name] = _svg(response.content)
        # Text stays text: selectable, searchable, in the shipped font.
        assert any(e.tag.endswith("text") for e in charts[name].iter())

    for day in body["calendar"]:
        group = _group(charts["calendar"], f"day-{day['date']}")
        assert _fill(group) == DAY_COLOURS[DayStatus(day["status"])]

    (phq,) = body["measures"]
    line = _points(_group(charts["measures"], f"measure-{phq['template_id']}"))
    assert len(line) == len(PHQ9)
    _linear([p["total"] for p in phq["points"]], [-y for _, y in line])  # y grows downwards
    assert [x for x, _ in line] == sorted(x for x, _ in line)
    _group(charts["measures"], f"risk-{phq['template_id']}")

    weeks = body["weeks"]
    for gid, key in (("mood-before", "mood_before"), ("mood-after", "mood_after")):
        drawn = _points(_group(charts["mood"], gid))
        _linear([w[key] for w in weeks], [-y for _, y in drawn])
    assert len(_points(_group(charts["mood"], "discomfort"))) == len(weeks)

    heights = []
    for week in weeks:
        corners = _points(_group(charts["minutes"], f"week-{week['period_start']}"))
        heights.append(max(y for _, y in corners) - min(y for _, y in corners))
    _linear([0] + [w["minutes"] for w in weeks], [0, *heights])


async def test_the_same_data_and_time_give_the_same_bytes(client, world, history, frozen_now):
    first = await _report(client, world, accept=PDF)
    second = await _report(client, world, accept=PDF)
    assert first.content == second.content
    assert PdfReader(io.BytesIO(first.content)).metadata["/CreationDate"].startswith("D:20260402")
    for name in ("calendar", "measures"):
        one = await _report(client, world, chart=name)
        two = await _report(client, world, chart=name)
        assert one.content == two.content


async def test_the_client_reads_a_kinder_copy_without_risk_flags(client, world, history):
    own = await _report(client, world, who="client", path="/v1/me/report")
    assert own.status_code == 200, own.text
    body = own.json()
    assert body["audience"] == "client"
    assert body["risk_flagged"] is None
    assert all(m["risk_marks"] is None for m in body["measures"])
    assert not any("Risk" in line or "risk" in line for line in body["summary"])
    assert "Your PHQ-9 score went from 17 to 11 over 3 weeks" in " ".join(body["summary"])
    # The same copy through the client's own id; asking for the clinician's is refused.
    same = await _report(client, world, who="client")
    assert same.json()["summary"] == body["summary"]
    refused = await _report(client, world, who="client", audience="clinician")
    assert refused.status_code == 403
    pdf = await _report(client, world, who="client", accept=PDF, path="/v1/me/report")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(pdf.content)).pages)
    assert "Your progress" in text and "risk" not in text.lower()
    chart = await _report(client, world, who="client", chart="measures", path="/v1/me/report")
    assert not any((e.get("id") or "").startswith("risk-") for e in _svg(chart.content).iter())
    # Staff may print the client's copy to hand it over.
    handout = await _report(client, world, audience="client")
    assert handout.json()["risk_flagged"] is None


@pytest.mark.parametrize(
    ("accept", "chart", "status", "media_type"),
    [
        (None, None, 200, "application/json"),
        ("*/*", None, 200, "application/json"),
        ("application/pdf;q=0.5, application/json;q=0.9", None, 200, "application/json"),
        ("application/*;q=0.2, application/pdf", None, 200, PDF),
        ("text/html", None, 406, None),
        (SVG, None, 406, None),
        ("application/pdf;q=0", None, 406, None),
        (None, "mood", 200, SVG),
        ("image/*", "mood", 200, SVG),
        (PDF, "mood", 406, None),
    ],
)
async def test_content_negotiation(client, world, history, accept, chart, status, media_type):
    params = {"chart": chart} if chart else {}
    response = await _report(client, world, accept=accept, **params)
    assert response.status_code == status, response.text
    if status == 406:
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["type"].endswith("not-acceptable")
        assert problem["available"] == ([SVG] if chart else ["application/json", PDF])
    else:
        assert response.headers["content-type"] == media_type


async def test_a_report_is_audited_as_an_export_of_the_client(client, world, history, db):
    client_id, therapist_id = world.client.id, world.therapist.id
    await _report(client, world, accept=PDF)
    await _report(client, world, who="client", path="/v1/me/report")
    await db.rollback()  # a fresh snapshot: the audit rows were committed by the app
    stmt = select(AuditEvent).where(AuditEvent.resource_type == "report")
    rows = (await db.execute(stmt.order_by(AuditEvent.occurred_at))).scalars().all()
    assert [(r.action, r.client_id, r.actor_id, r.outcome) for r in rows] == [
        ("export", client_id, therapist_id, 200),
        ("export", client_id, client_id, 200),
    ]


async def test_a_bad_window_is_a_validation_problem(client, world, history):
    response = await _report(client, world, **{"from": "2026-03-30"})
    assert response.status_code == 422
    assert (await _report(client, world, chart="mood", paper="a4")).status_code == 422


async def test_the_fhir_record_holds_the_latest_report_as_a_pdf_document(client, world, history):
    everything = await client.get(
        f"/v1/fhir/Patient/{world.client.id}/$everything", headers=world.auth("therapist")
    )
    assert everything.status_code == 200, everything.text
    (document,) = [
        e["resource"]
        for e in everything.json()["entry"]
        if e["resource"]["resourceType"] == "DocumentReference"
    ]
    model = validated(document)
    assert model.type.coding[0].system == "http://loinc.org"
    assert model.type.coding[0].code == "11506-3"
    assert model.subject.reference == f"Patient/{world.client.id}"
    attachment = document["content"][0]["attachment"]
    pdf = base64.b64decode(attachment["data"])
    assert pdf.startswith(b"%PDF-")
    assert attachment["contentType"] == PDF
    assert attachment["size"] == len(pdf)
    assert attachment["hash"] == base64.b64encode(hashlib.sha1(pdf).digest()).decode()  # noqa: S324
    assert "Progress report" in PdfReader(io.BytesIO(pdf)).pages[0].extract_text()

    search = await client.get(
        "/v1/fhir/DocumentReference",
        params={"patient": f"Patient/{world.client.id}"},
        headers=world.auth("therapist"),
    )
    assert search.status_code == 200, search.text
    assert search.headers["content-type"].startswith("application/fhir+json")
    bundle = validated(search.json())
    assert (bundle.type, bundle.total) == ("searchset", 1)
    found = bundle.entry[0].resource
    assert (found.id, found.type.coding[0].code) == (document["id"], "11506-3")
    assert bundle.entry[0].search.mode == "match"
    by_id = await client.get(
        "/v1/fhir/DocumentReference",
        params={"patient": str(world.client.id)},
        headers=world.auth("therapist"),
    )
    assert by_id.json()["entry"][0]["resource"]["id"] == document["id"]
    bad = await client.get(
        "/v1/fhir/DocumentReference", params={"patient": "x"}, headers=world.auth("therapist")
    )
    assert bad.status_code == 422


async def test_long_lists_are_cut_in_the_pdf_and_whole_in_the_json(client, world, history):
    """A year's window may hold dozens of items to discuss: the PDF shows the ones not reviewed
    yet and the latest, says how many it left out, and keeps to three pages."""
    from app.reports.pdf import LIST_LIMIT, render_pdf
    from app.reports.schemas import ClientReport

    body = (await _report(client, world)).json()
    # The answer names the window `from` and `to` (serialization aliases of the model).
    body |= {"from_date": body.pop("from"), "to_date": body.pop("to")}
    body["metrics"] |= {
        "from_date": body["metrics"].pop("from"),
        "to_date": body["metrics"].pop("to"),
    }
    report = ClientReport.model_validate(body)
    (item,) = report.to_discuss
    many = [
        item.model_copy(update={"date": item.date.replace(day=day), "reviewed": day != 3})
        for day in range(1, 21)
    ]
    content = render_pdf(report.model_copy(update={"to_discuss": many}))
    reader = PdfReader(io.BytesIO(content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) <= 3
    assert f"… and {20 - LIST_LIMIT} more (all in the JSON report)" in text
    assert item.date.replace(day=3).isoformat() in text  # not reviewed: kept
    assert item.date.replace(day=20).isoformat() in text  # the latest: kept
    assert item.date.replace(day=1).isoformat() + " ·" not in text  # an old reviewed one: cut
