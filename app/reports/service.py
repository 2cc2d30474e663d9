"""The progress report of one client over a window: the metrics service's numbers (the very
`ClientMetrics` that `/metrics` answers), the per-day and per-week details the charts draw,
goals, achievements, the completions to discuss, and a summary computed from all of it.

Reports are made on the fly from the window, never stored: the same data and `now` give the
same report, and so the same PDF and SVG bytes (see `render.py`).
"""

import uuid
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.models import User
from app.completions.adherence import Counts
from app.core.errors import Unprocessable, field_error
from app.core.time import local_day
from app.metrics.schemas import ClientMetrics, Granularity
from app.metrics.service import client_metrics_by_day
from app.reports import repository
from app.reports.schemas import (
    Audience,
    Band,
    CalendarDay,
    ChartName,
    ClientReport,
    DayStatus,
    DiscussItem,
    Paper,
    ReportAchievement,
    ReportClient,
    ReportClinic,
    ReportGoal,
    ReportMeasure,
    ReportMeasurePoint,
    ReportPerson,
    ReportStep,
    ReportWeek,
    RiskMark,
)

MAX_DAYS = 366
DEFAULT_DAYS = 84  # twelve weeks: a course of therapy's usual review interval
NOTE_CHARS = 300


def window(client: User, now: datetime, start: date | None, end: date | None) -> tuple[date, date]:
    """The report's local dates: by default the twelve weeks up to the client's today."""
    today = local_day(now, client.timezone)
    end = end or today
    start = start or end - timedelta(days=DEFAULT_DAYS - 1)
    if start > end or (end - start).days + 1 > MAX_DAYS:
        raise Unprocessable(
            f"`from` must be on or before `to`, at most {MAX_DAYS} days apart.",
            errors=[field_error(["query", "from"], "Invalid range", "range")],
        )
    return start, end


# Countries whose paper is US Letter (the rest of the world uses A4), by the country of the
# clinic's time zone in the tz database's zone.tab: the clinic has no locale, its zone is the
# nearest thing to one.
LETTER_COUNTRIES = frozenset(
    {"US", "CA", "MX", "PH", "CL", "CO", "VE", "CR", "GT", "PA", "DO", "SV", "NI", "PR", "BZ"}
)


def _zone_countries() -> dict[str, str]:
    from importlib import resources

    try:
        text = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text()
    except (ModuleNotFoundError, FileNotFoundError):  # pragma: no cover - tzdata is a dependency
        return {}
    found = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            parts = line.split("\t")
            if len(parts) >= 3:
                found[parts[2]] = parts[0]
    return found


_ZONE_COUNTRY = _zone_countries()
# Old names (US/Eastern, Canada/Pacific) are links to the zones above.
_ALIASES = {"US/": "US", "Canada/": "CA", "Mexico/": "MX", "Chile/": "CL"}


def default_paper(timezone: str) -> Paper:
    country = _ZONE_COUNTRY.get(timezone) or next(
        (c for prefix, c in _ALIASES.items() if timezone.startswith(prefix)), None
    )
    return Paper.letter if country in LETTER_COUNTRIES else Paper.a4


def day_status(counts: Counts | None, day: date, today: date) -> DayStatus:
    if day > today:
        return DayStatus.upcoming
    if counts is None or counts.scheduled + counts.pending == counts.paused:
        return DayStatus.nothing_due
    if counts.completed:
        done_all = counts.completed == counts.effective and not counts.pending
        return DayStatus.done if done_all else DayStatus.partly
    if counts.skipped:
        return DayStatus.skipped
    if counts.missed:
        return DayStatus.missed
    return DayStatus.upcoming  # today, nothing answered yet


def _calendar(
    start: date,
    end: date,
    today: date,
    per_day: dict[date, Counts],
    reasons: dict[date, list[str]],
) -> list[CalendarDay]:
    days = []
    for offset in range((end - start).days + 1):
        day = start + timedelta(days=offset)
        counts = per_day.get(day)
        c = counts or Counts()
        days.append(
            CalendarDay(
                date=day,
                status=day_status(counts, day, today),
                scheduled=c.scheduled,
                completed=c.completed,
                skipped=c.skipped,
                missed=c.missed,
                paused=c.paused,
                pending=c.pending,
                skip_reasons=reasons.get(day, []),
            )
        )
    return days


def _weeks(
    metrics: ClientMetrics, practice: dict[date, repository.DayPractice]
) -> list[ReportWeek]:
    weeks = []
    by_period: defaultdict[int, list[repository.DayPractice]] = defaultdict(list)
    if metrics.series:
        first = metrics.series[0].period_start
        length = (metrics.series[0].period_end - first).days + 1  # every period but the last
        for day, done in practice.items():
            by_period[min((day - first).days // length, len(metrics.series) - 1)].append(done)
    for index, period in enumerate(metrics.series):
        days = by_period[index]
        before_n = sum(p.mood_before_n for p in days)
        after_n = sum(p.mood_after_n for p in days)
        weeks.append(
            ReportWeek(
                period_start=period.period_start,
                period_end=period.period_end,
                scheduled=period.scheduled,
                completed=period.completed,
                rate=period.rate,
                minutes=sum(p.minutes for p in days),
                mood_before=round(sum(p.mood_before_sum for p in days) / before_n, 2)
                if before_n
                else None,
                mood_after=round(sum(p.mood_after_sum for p in days) / after_n, 2)
                if after_n
                else None,
                discomfort=period.discomfort,
            )
        )
    return weeks


def _span(first: date, last: date) -> str:
    days = (last - first).days
    if days >= 14:
        weeks = round(days / 7)
        return f"{weeks} weeks"
    return f"{days} day{'s' if days != 1 else ''}"


def _band_label(bands: list[Band], code: str | None) -> str | None:
    return next((b.label.lower() for b in bands if b.code == code), None)


def _measure_sentence(measure: ReportMeasure, audience: Audience) -> str | None:
    points = measure.points
    if not points:
        return None
    first, last = points[0], points[-1]
    if len(points) == 1:
        if audience is Audience.client:
            return f"Your {measure.title} score was {first.total} on {first.date.isoformat()}."
        band = _band_label(measure.bands, first.band)
        return f"{measure.title}: one score, {first.total}{f' ({band})' if band else ''}."
    span = _span(first.date, last.date)
    if audience is Audience.client:
        if last.total == first.total:
            return f"Your {measure.title} score stayed at {last.total} over {span}."
        lower = " (a lower score means fewer symptoms)" if measure.bands else ""
        return (
            f"Your {measure.title} score went from {first.total} to {last.total} "
            f"over {span}{lower}."
        )
    b1, b2 = _band_label(measure.bands, first.band), _band_label(measure.bands, last.band)
    a = f"{first.total} ({b1})" if b1 else str(first.total)
    b = f"{last.total} ({b2})" if b2 else str(last.total)
    if last.total == first.total:
        return f"{measure.title} stayed at {a} over {span} ({len(points)} scores)."
    verb = "fell" if last.total < first.total else "rose"
    return f"{measure.title} {verb} from {a} to {b} over {span} ({len(points)} scores)."


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _summary(report: ClientReport) -> list[str]:
    m, client = report.metrics, report.audience is Audience.client
    lines = []
    a = m.adherence
    effective = a.scheduled - a.paused
    if effective:
        percent = round(100 * a.completed / effective)
        lines.append(
            f"You did {a.completed} of {effective} exercises ({percent}%)."
            if client
            else f"Adherence: {a.completed} of {effective} scheduled exercises done ({percent}%), "
            f"{a.skipped} skipped, {a.missed} missed."
        )
    else:
        lines.append("Nothing was scheduled in this period.")
    for measure in report.measures:
        sentence = _measure_sentence(measure, report.audience)
        if sentence:
            lines.append(sentence)
    mood = m.mood
    if mood.average_change is not None and mood.completions_with_both:
        change = mood.average_change
        if client:
            direction = "better" if change > 0 else "lower" if change < 0 else "the same"
            amount = f"{abs(change):g} points " if change else ""
            lines.append(f"On average your mood was {amount}{direction} after practising.")
        else:
            lines.append(
                f"Mood changed by {change:+g} on average from before to after practice "
                f"({mood.completions_with_both} completions)."
            )
    with_discomfort = [w for w in report.weeks if w.discomfort is not None]
    if len(with_discomfort) > 1 and m.discomfort.trend:
        first_d, last_d = with_discomfort[0].discomfort, with_discomfort[-1].discomfort
        lines.append(
            f"Discomfort (SUDS) was {m.discomfort.trend}: weekly average {first_d:g} at first, "
            f"{last_d:g} at last."
        )
    weeks = max(1, len(report.weeks))
    lines.append(
        f"{'You practised' if client else 'Practised'} {m.minutes_practised} minutes in all "
        f"(about {round(m.minutes_practised / weeks)} a week); longest streak "
        f"{m.streaks.longest} days, current {m.streaks.current}."
    )
    if report.goals:
        done = sum(g.steps_done for g in report.goals)
        total = sum(g.steps_total for g in report.goals)
        achieved = sum(g.status == "achieved" for g in report.goals)
        lines.append(
            f"Goals: {len(report.goals) - achieved} active, {achieved} achieved; "
            f"{done} of {total} steps done."
        )
    if report.to_discuss:
        open_items = sum(not item.reviewed for item in report.to_discuss)
        lines.append(
            f"You asked to talk about {len(report.to_discuss)} of your entries."
            if client
            else f"{_count(len(report.to_discuss), 'completion')} to discuss "
            f"({open_items} not reviewed)."
        )
    if not client and report.risk_flagged:
        marks = [mark for measure in report.measures for mark in measure.risk_marks or []]
        dates = ", ".join(sorted({mark.date.isoformat() for mark in marks}))
        lines.append(
            f"Risk: {_count(report.risk_flagged, 'completion')} with a risk flag"
            + (f" (item 9 on {dates})" if dates else "")
            + "; review them."
        )
    return lines


async def build_report(
    session: AsyncSession,
    client: User,
    start: date,
    end: date,
    now: datetime,
    *,
    audience: Audience,
    paper: Paper | None = None,
) -> ClientReport:
    zone = ZoneInfo(client.timezone)
    today = now.astimezone(zone).date()
    metrics, per_day = await client_metrics_by_day(
        session, client, start, end, Granularity.week, now
    )
    clinic, therapists = await repository.care_team(session, client)
    practice, reasons = await repository.days_of(session, client.id, start, end)
    template_ids = [m.template_id for m in metrics.measures]
    bands = await repository.bands_of(session, template_ids)
    clinician = audience is Audience.clinician
    flagged = await repository.risk_flagged(session, client.id, start, end) if clinician else []
    measures = []
    for series in metrics.measures:
        own_bands = [
            Band(code=b.code, label=b.label, min=b.min, max=b.max)
            for b in bands.get(series.template_id, [])
        ]
        measures.append(
            ReportMeasure(
                template_id=series.template_id,
                title=series.title,
                bands=own_bands,
                points=[
                    ReportMeasurePoint(
                        date=p.date,
                        total=p.total,
                        band=p.band,
                        band_label=next((b.label for b in own_bands if b.code == p.band), None),
                    )
                    for p in series.series
                ],
                change=series.change,
                risk_marks=[
                    RiskMark(date=day, total=total, flags=flags)
                    for template_id, day, total, flags in flagged
                    if template_id == series.template_id
                ]
                if clinician
                else None,
            )
        )
    goals = await repository.goals_of(session, client.id)
    window_start = datetime.combine(start, time(), zone)
    window_end = datetime.combine(end + timedelta(days=1), time(), zone)
    achievements = await repository.achievements_between(
        session, client.id, window_start, window_end
    )
    discuss = await repository.to_discuss(session, client.id, start, end)
    report = ClientReport(
        audience=audience,
        paper=paper or default_paper(clinic.timezone),
        generated_at=now.astimezone(zone).replace(microsecond=0),
        client=ReportClient(id=client.id, display_name=client.display_name, timezone=zone.key),
        clinic=ReportClinic(id=clinic.id, name=clinic.name),
        therapists=[ReportPerson(id=t.id, display_name=t.display_name) for t in therapists],
        from_date=start,
        to_date=end,
        summary=[],
        metrics=metrics,
        calendar=_calendar(start, end, today, per_day, reasons),
        measures=measures,
        weeks=_weeks(metrics, practice),
        goals=[
            ReportGoal(
                id=g.id,
                title=g.title,
                status=g.status,
                target_date=g.target_date,
                steps_done=sum(s.done for s in steps),
                steps_total=len(steps),
                # As the goals' own `progress.step_progress`.
                step_progress=round(sum(s.done for s in steps) / len(steps), 4) if steps else None,
                steps=[ReportStep(title=s.title, done=s.done) for s in steps],
            )
            for g, steps in goals
        ],
        achievements=[
            ReportAchievement(
                title=a.title, type=a.type.value, earned_at=a.earned_at.astimezone(zone)
            )
            for a in achievements
        ],
        to_discuss=[
            DiscussItem(
                completion_id=c.id,
                date=c.occurrence_date,
                title=c.title,
                status=c.status.value,
                reviewed=c.reviewed,
                note=_shorten(c.note),
            )
            for c in discuss
        ],
        risk_flagged=len(flagged) if clinician else None,
        charts=list(ChartName),
    )
    report.summary = _summary(report)
    return report


def _shorten(note: str | None) -> str | None:
    if not note or not note.strip():
        return None
    text = " ".join(note.split())
    return text if len(text) <= NOTE_CHARS else text[: NOTE_CHARS - 1] + "…"


def report_id(client_id: uuid.UUID, start: date, end: date, audience: Audience) -> uuid.UUID:
    """The same window of the same client is the same report (its FHIR DocumentReference id)."""
    return uuid.uuid5(client_id, f"report/{audience.value}/{start.isoformat()}/{end.isoformat()}")


async def latest_report(session: AsyncSession, client: User, now: datetime) -> ClientReport:
    """The report a record keeps (FHIR): the clinician's, over the default window ending now."""
    start, end = window(client, now, None, None)
    return await build_report(session, client, start, end, now, audience=Audience.clinician)


def report_title(report: ClientReport) -> str:
    return (
        f"Homework progress report, {report.from_date.isoformat()} to {report.to_date.isoformat()}"
    )
