"""The report's charts, drawn with matplotlib (no pyplot, no display) as SVG.

- Deterministic: a fixed `svg.hashsalt` (element ids), no date in the metadata, no path
  simplification; the same report gives the same bytes.
- Text stays text (`svg.fonttype: none`), in DejaVu Sans (the font matplotlib ships, which the
  PDF embeds too), so it is selectable and searchable.
- Colours: the Okabe-Ito palette, which people with any common colour-vision deficiency tell
  apart; every colour is also named in a legend or a label.
- Each data point's element carries an id (`gid`) that says what it is (`day-2026-03-02`,
  `week-2026-03-02`, `measure-<template id>`, `mood-before`...), for tests and for dashboards
  that style or script the SVG.
"""

import io
from collections.abc import Callable
from datetime import date, timedelta

import matplotlib

matplotlib.use("Agg")  # before anything else of matplotlib: never a display

from matplotlib import dates as mdates
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from app.reports.schemas import (
    Audience,
    ChartName,
    ClientReport,
    DayStatus,
    ReportMeasure,
)

FONT_FAMILY = "DejaVu Sans"
matplotlib.rcParams.update(
    {
        "svg.fonttype": "none",
        "svg.hashsalt": "homework-report",
        "path.simplify": False,
        "font.family": FONT_FAMILY,
        "font.size": 7.5,
        "axes.titlesize": 9,
        "axes.titleweight": "bold",
        "axes.titlelocation": "left",
        "axes.spines.top": False,
        "axes.spines.right": False,
        "legend.frameon": False,
    }
)

# Okabe & Ito (2008), "Color Universal Design".
BLACK, ORANGE, SKY_BLUE, GREEN = "#000000", "#e69f00", "#56b4e9", "#009e73"
YELLOW, BLUE, VERMILLION, PURPLE = "#f0e442", "#0072b2", "#d55e00", "#cc79a7"
GREY, LIGHT_GREY = "#999999", "#eeeeee"

DAY_COLOURS = {
    DayStatus.done: GREEN,
    DayStatus.partly: SKY_BLUE,
    DayStatus.skipped: ORANGE,
    DayStatus.missed: VERMILLION,
    DayStatus.nothing_due: LIGHT_GREY,
    DayStatus.upcoming: "#ffffff",
}
DAY_LABELS = {
    Audience.clinician: {
        DayStatus.done: "Done",
        DayStatus.partly: "Partly",
        DayStatus.skipped: "Skipped",
        DayStatus.missed: "Missed",
        DayStatus.nothing_due: "Nothing due",
        DayStatus.upcoming: "Still open",
    },
    Audience.client: {
        DayStatus.done: "Done",
        DayStatus.partly: "Some done",
        DayStatus.skipped: "Skipped",
        DayStatus.missed: "Not done",
        DayStatus.nothing_due: "Nothing due",
        DayStatus.upcoming: "Still open",
    },
}
# Severity bands, mildest first: greys a reader can tell apart in print and on screen.
BAND_SHADES = ("#f7f7f7", "#e6e6e6", "#d4d4d4", "#c2c2c2", "#b0b0b0", "#9e9e9e")
WIDTH_IN = 7.0


def _figure(height: float, right: float = 0.9) -> Figure:
    """Fixed margins (in inches): a layout engine measuring every label costs a third of the
    rendering time."""
    figure = Figure(figsize=(WIDTH_IN, height), dpi=72)
    figure.subplots_adjust(
        left=0.7 / WIDTH_IN,
        right=1 - right / WIDTH_IN,
        bottom=0.4 / height,
        top=1 - 0.3 / height,
        hspace=0.35 * 1.9 / height,
    )
    return figure


def _svg(figure: Figure, title: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    return buffer.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


def calendar(report: ClientReport) -> bytes:
    """One square per local day, a column per week (Monday first)."""
    days = report.calendar
    first_monday = days[0].date - timedelta(days=days[0].date.weekday())
    columns = (days[-1].date - first_monday).days // 7 + 1
    figure = _figure(1.9)
    ax = figure.add_subplot()
    labels = DAY_LABELS[report.audience]
    for day in days:
        column = (day.date - first_monday).days // 7
        row = day.date.weekday()
        # add_artist, not add_patch: the limits are set below, not grown patch by patch.
        ax.add_artist(
            Rectangle(
                (column, 6 - row),
                0.86,
                0.86,
                facecolor=DAY_COLOURS[day.status],
                edgecolor=GREY if day.status is DayStatus.upcoming else "none",
                linewidth=0.5,
                gid=f"day-{day.date.isoformat()}",
            )
        )
    ax.set_xlim(-0.2, max(columns, 12) + 0.1)
    ax.set_ylim(-0.2, 7.1)
    ax.set_aspect("equal", adjustable="box", anchor="W")
    ax.set_yticks([6.43, 4.43, 2.43, 0.43], ["Mon", "Wed", "Fri", "Sun"])
    months = []
    for column in range(columns):
        monday = first_monday + timedelta(days=7 * column)
        if column == 0 or monday.day <= 7:
            months.append(
                (column + 0.43, monday.strftime("%b %d") if column == 0 else monday.strftime("%b"))
            )
    ax.set_xticks([c for c, _ in months], [t for _, t in months])
    ax.tick_params(length=0)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    counts = {status: sum(d.status is status for d in days) for status in DayStatus}
    ax.legend(
        handles=[
            Patch(
                facecolor=DAY_COLOURS[s],
                edgecolor=GREY if s is DayStatus.upcoming else "none",
                label=f"{labels[s]} ({counts[s]})",
            )
            for s in DayStatus
            if counts[s] or s is not DayStatus.upcoming
        ],
        loc="upper left",
        bbox_to_anchor=(1.0, 1.0),
        fontsize=7,
        handlelength=1.0,
    )
    ax.set_title("Homework, day by day")
    return _svg(figure, "Adherence calendar")


def _date_axis(ax: Axes, first: date, last: date) -> None:
    ax.set_xlim(
        mdates.date2num(first - timedelta(days=1)), mdates.date2num(last + timedelta(days=1))
    )
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%d %b"))


def _measure_panel(ax: Axes, measure: ReportMeasure, report: ClientReport) -> None:
    top = max([b.max for b in measure.bands] + [p.total for p in measure.points] + [1])
    for index, band in enumerate(measure.bands):
        ax.axhspan(
            band.min - 0.5 if band.min > 0 else 0,
            band.max + 0.5 if band.max < top else top,
            color=BAND_SHADES[min(index, len(BAND_SHADES) - 1)],
            linewidth=0,
            zorder=0,
        )
        ax.text(
            1.005,
            (band.min + min(band.max, top)) / 2,
            band.label,
            transform=ax.get_yaxis_transform(),
            va="center",
            fontsize=6.5,
            color="#444444",
        )
    ax.set_ylim(0, top)
    ax.set_title(f"{measure.title} total")
    _date_axis(ax, report.from_date, report.to_date)
    if not measure.points:
        return
    xs = [mdates.date2num(p.date) for p in measure.points]
    ys = [p.total for p in measure.points]
    ax.plot(
        xs,
        ys,
        color=BLUE,
        marker="o",
        markersize=4,
        linewidth=1.5,
        gid=f"measure-{measure.template_id}",
        zorder=3,
    )
    for x, y in zip(xs, ys, strict=True):
        ax.annotate(
            str(y), (x, y), textcoords="offset points", xytext=(0, 5), ha="center", fontsize=7
        )
    marks = measure.risk_marks or []
    if marks:
        ax.plot(
            [mdates.date2num(m.date) for m in marks],
            [m.total if m.total is not None else top for m in marks],
            linestyle="none",
            marker="^",
            markersize=8,
            markerfacecolor=VERMILLION,
            markeredgecolor=BLACK,
            gid=f"risk-{measure.template_id}",
            zorder=4,
            label="Risk flag (item 9)",
        )
        ax.legend(loc="upper right", fontsize=7)


def measures(report: ClientReport) -> bytes:
    shown = report.measures[:4]
    figure = _figure(1.9 * max(1, len(shown)))
    if not shown:
        ax = figure.add_subplot()
        ax.set_title("Questionnaire scores")
        _empty(ax, "No questionnaire scores in this period")
        return _svg(figure, "Measures")
    for index, measure in enumerate(shown):
        _measure_panel(figure.add_subplot(len(shown), 1, index + 1), measure, report)
    return _svg(figure, "Measures")


def mood(report: ClientReport) -> bytes:
    figure = _figure(2.2)
    ax = figure.add_subplot()
    ax.set_title("Mood before and after practice, and discomfort (weekly averages)")
    weeks = report.weeks
    if not any(w.mood_before is not None or w.discomfort is not None for w in weeks):
        _empty(ax, "No mood or discomfort ratings in this period")
        return _svg(figure, "Mood")
    ax.set_ylim(0, 10.5)
    ax.set_ylabel("Mood (0-10)")
    right = ax.twinx()
    right.set_ylim(0, 105)
    right.set_ylabel("Discomfort, SUDS (0-100)")
    right.spines["right"].set_visible(True)
    series = (
        (ax, "mood-before", "Mood before", BLUE, "o", "-", [w.mood_before for w in weeks]),
        (ax, "mood-after", "Mood after", GREEN, "s", "-", [w.mood_after for w in weeks]),
        (right, "discomfort", "Discomfort", VERMILLION, "^", "--", [w.discomfort for w in weeks]),
    )
    handles = []
    for axis, gid, label, colour, marker, style, values in series:
        points = [(mdates.date2num(w.period_start), v) for w, v in zip(weeks, values, strict=True)]
        present = [(x, v) for x, v in points if v is not None]
        (line,) = axis.plot(
            [x for x, _ in present],
            [v for _, v in present],
            color=colour,
            marker=marker,
            markersize=4,
            linestyle=style,
            linewidth=1.5,
            label=label,
            gid=gid,
        )
        handles.append(line)
    _date_axis(ax, report.from_date, report.to_date)
    ax.legend(handles=handles, loc="upper left", ncols=3, fontsize=7)
    return _svg(figure, "Mood")


def minutes(report: ClientReport) -> bytes:
    figure = _figure(1.9)
    ax = figure.add_subplot()
    ax.set_title("Minutes practised per week")
    weeks = report.weeks
    top = max([w.minutes for w in weeks] + [10])
    bars = ax.bar(range(len(weeks)), [w.minutes for w in weeks], width=0.7, color=BLUE)
    for index, (bar, week) in enumerate(zip(bars, weeks, strict=True)):
        bar.set_gid(f"week-{week.period_start.isoformat()}")
        ax.text(index, week.minutes + top * 0.02, str(week.minutes), ha="center", fontsize=6.5)
    ax.set_ylim(0, top * 1.15)
    step = max(1, len(weeks) // 12)
    ticks = list(range(0, len(weeks), step))
    ax.set_xticks(ticks, [weeks[i].period_start.strftime("%d %b") for i in ticks])
    ax.set_ylabel("Minutes")
    return _svg(figure, "Minutes per week")


CHARTS: dict[ChartName, Callable[[ClientReport], bytes]] = {
    ChartName.calendar: calendar,
    ChartName.measures: measures,
    ChartName.mood: mood,
    ChartName.minutes: minutes,
}


def render_chart(report: ClientReport, name: ChartName) -> bytes:
    return CHARTS[name](report)
