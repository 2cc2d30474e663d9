"""The report's charts drawn straight into the PDF with fpdf2's vector primitives (rectangles,
lines, text): the same data, colours, labels and date ticks as the SVG charts of `charts.py`,
without rendering a matplotlib figure and having fpdf2 parse its SVG back (that was nine tenths
of a PDF's time). Text stays text, in the embedded DejaVu Sans.

Coordinates are the page's millimetres, y growing downwards; `_Plot` maps data to them.
"""

from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import TYPE_CHECKING

from matplotlib import dates as mdates

from app.reports.charts import (
    BAND_SHADES,
    BLACK,
    BLUE,
    DAY_COLOURS,
    DAY_LABELS,
    GREEN,
    GREY,
    VERMILLION,
    date_ticks,
    month_ticks,
    nice_ticks,
)
from app.reports.schemas import ChartName, ClientReport, DayStatus, ReportMeasure

if TYPE_CHECKING:
    from fpdf import FPDF

PT = 25.4 / 72  # one point in millimetres
FONT = "DejaVu Sans"
INK, MUTED_INK, AXIS = (20, 20, 20), (68, 68, 68), (60, 60, 60)
LEFT, RIGHT = 14.0, 20.0  # plot margins (mm) inside the chart's box, for tick and band labels
TITLE_H, BOTTOM = 6.0, 7.0
Colour = tuple[int, int, int]


def _rgb(hex_colour: str) -> Colour:
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


class _Plot:
    """A rectangle of the page and the data ranges it shows."""

    def __init__(
        self,
        x: float,
        y: float,
        w: float,
        h: float,
        xs: tuple[float, float],
        ys: tuple[float, float],
    ) -> None:
        self.left, self.top, self.w, self.h = x, y, w, h
        self.x0, self.x1 = xs
        self.y0, self.y1 = ys

    def x(self, value: float) -> float:
        return self.left + (value - self.x0) / (self.x1 - self.x0) * self.w

    def y(self, value: float) -> float:
        return self.top + self.h - (value - self.y0) / (self.y1 - self.y0) * self.h

    @property
    def bottom(self) -> float:
        return self.top + self.h

    @property
    def right(self) -> float:
        return self.left + self.w


def _text(
    doc: "FPDF",
    x: float,
    y: float,
    text: str,
    size: float = 7.5,
    colour: Colour = INK,
    align: str = "L",
    middle: bool = False,
    bold: bool = False,
) -> None:
    """Text whose baseline (or, with `middle`, whose middle) is at y; aligned left, centre or
    right of x."""
    doc.set_font(FONT, "B" if bold else "", size)
    doc.set_text_color(*colour)
    if align != "L":
        width = doc.get_string_width(text)
        x -= width / 2 if align == "C" else width
    doc.text(x, y + (size * PT * 0.36 if middle else 0), text)


def _title(doc: "FPDF", x: float, y: float, text: str) -> None:
    _text(doc, x, y + 9 * PT, text, size=9, bold=True)


def _axes(doc: "FPDF", plot: _Plot, right: bool = False) -> None:
    doc.set_draw_color(*AXIS)
    doc.set_line_width(0.8 * PT)
    doc.line(plot.left, plot.top, plot.left, plot.bottom)
    doc.line(plot.left, plot.bottom, plot.right, plot.bottom)
    if right:
        doc.line(plot.right, plot.top, plot.right, plot.bottom)


def _y_ticks(
    doc: "FPDF", plot: _Plot, ticks: Sequence[float], right: bool = False, label: str = ""
) -> None:
    doc.set_draw_color(*AXIS)
    doc.set_line_width(0.8 * PT)
    for tick in ticks:
        y = plot.y(tick)
        if right:
            doc.line(plot.right, y, plot.right + 1.2, y)
            _text(doc, plot.right + 1.8, y, f"{tick:g}", middle=True)
        else:
            doc.line(plot.left - 1.2, y, plot.left, y)
            _text(doc, plot.left - 1.8, y, f"{tick:g}", align="R", middle=True)
    if label:
        x = plot.right + 9 if right else plot.left - 9
        y = plot.top + plot.h / 2
        doc.set_font(FONT, "", 7.5)
        width = doc.get_string_width(label)
        with doc.rotation(90, x, y):
            _text(doc, x - width / 2, y + (2.5 if right else 0), label)


def _x_ticks(doc: "FPDF", plot: _Plot, ticks: Sequence[tuple[float, str]]) -> None:
    doc.set_draw_color(*AXIS)
    doc.set_line_width(0.8 * PT)
    for value, label in ticks:
        x = plot.x(value)
        doc.line(x, plot.bottom, x, plot.bottom + 1.2)
        _text(doc, x, plot.bottom + 1.5 + 7.5 * PT, label, align="C")


def _date_plot(x: float, y: float, w: float, h: float, report: ClientReport, top: float) -> _Plot:
    low = mdates.date2num(report.from_date - timedelta(days=1))
    high = mdates.date2num(report.to_date + timedelta(days=1))
    return _Plot(
        x + LEFT, y + TITLE_H, w - LEFT - RIGHT, h - TITLE_H - BOTTOM, (low, high), (0, top)
    )


def _empty(doc: "FPDF", x: float, y: float, w: float, h: float, text: str) -> None:
    _text(doc, x + w / 2, y + h / 2, text, colour=_rgb(GREY), align="C", middle=True)


def _marker(doc: "FPDF", shape: str, x: float, y: float, size: float) -> None:
    r = size * PT / 2
    if shape == "o":
        doc.circle(x, y, r, style="F")
    elif shape == "s":
        doc.rect(x - r * 0.9, y - r * 0.9, 1.8 * r, 1.8 * r, style="F")
    else:  # a triangle pointing up
        doc.polygon([(x, y - r * 1.15), (x + r, y + r * 0.6), (x - r, y + r * 0.6)], style="F")


LEGEND_W = 38.0


def _calendar_cell(report: ClientReport, w: float) -> tuple[date, int, float]:
    """(first Monday, columns, a square's pitch): squares as large as the width allows for the
    window's weeks, at most as in a 1.9 in high chart."""
    days = report.calendar
    first_monday = days[0].date - timedelta(days=days[0].date.weekday())
    columns = (days[-1].date - first_monday).days // 7 + 1
    cell = min((w - 10 - LEGEND_W) / max(columns, 12), (w * 1.9 / 7 - TITLE_H - BOTTOM) / 7)
    return first_monday, columns, cell


def _calendar_height(report: ClientReport, w: float) -> float:
    """A year's squares are small: the chart is no taller than they and the legend need."""
    cell = _calendar_cell(report, w)[2]
    return TITLE_H + 1 + max(7 * cell + BOTTOM, 6 * 3.8 + 2)


def calendar(doc: "FPDF", report: ClientReport, x: float, y: float, w: float, h: float) -> None:
    days = report.calendar
    first_monday, columns, cell = _calendar_cell(report, w)
    _title(doc, x, y, "Homework, day by day")
    legend_w = LEGEND_W
    top = y + TITLE_H + 1
    left = x + 10
    square = cell * 0.86
    # One fill colour set per status, then its squares: 366 rectangles cost little.
    by_status: dict[DayStatus, list[date]] = {}
    for day in days:
        by_status.setdefault(day.status, []).append(day.date)
    doc.set_line_width(0.5 * PT)
    doc.set_draw_color(*_rgb(GREY))
    for status, dates in by_status.items():
        doc.set_fill_color(*_rgb(DAY_COLOURS[status]))
        style = "DF" if status is DayStatus.upcoming else "F"
        for day_date in dates:
            column = (day_date - first_monday).days // 7
            doc.rect(
                left + column * cell, top + day_date.weekday() * cell, square, square, style=style
            )
    for row, name in ((0, "Mon"), (2, "Wed"), (4, "Fri"), (6, "Sun")):
        _text(doc, left - 1.5, top + row * cell + square / 2, name, align="R", middle=True)
    for column, label in month_ticks(first_monday, columns):
        _text(doc, left + column * cell + square / 2, top + 7 * cell + 7.5 * PT, label, align="C")
    labels = DAY_LABELS[report.audience]
    counts = {status: len(by_status.get(status, [])) for status in DayStatus}
    entry_y = top
    legend_x = min(left + max(columns, 12) * cell + 4, x + w - legend_w + 2)
    for status in DayStatus:
        if not counts[status] and status is DayStatus.upcoming:
            continue
        doc.set_fill_color(*_rgb(DAY_COLOURS[status]))
        doc.rect(legend_x, entry_y, 2.6, 2.6, style="DF" if status is DayStatus.upcoming else "F")
        _text(
            doc, legend_x + 4, entry_y + 1.3, f"{labels[status]} ({counts[status]})", 7, middle=True
        )
        entry_y += 3.8


def _measure_panel(
    doc: "FPDF",
    measure: ReportMeasure,
    report: ClientReport,
    x: float,
    y: float,
    w: float,
    h: float,
) -> None:
    top = max([b.max for b in measure.bands] + [p.total for p in measure.points] + [1])
    _title(doc, x, y, f"{measure.title} total")
    plot = _date_plot(x, y, w, h, report, top)
    for index, band in enumerate(measure.bands):
        low = band.min - 0.5 if band.min > 0 else 0
        high = band.max + 0.5 if band.max < top else top
        doc.set_fill_color(*_rgb(BAND_SHADES[min(index, len(BAND_SHADES) - 1)]))
        doc.rect(plot.left, plot.y(high), plot.w, plot.y(low) - plot.y(high), style="F")
        middle = plot.y((band.min + min(band.max, top)) / 2)
        _text(doc, plot.right + 0.6, middle, band.label, size=6.5, colour=MUTED_INK, middle=True)
    _axes(doc, plot)
    _y_ticks(doc, plot, nice_ticks(top))
    _x_ticks(doc, plot, date_ticks(report.from_date, report.to_date))
    if not measure.points:
        return
    points = [(plot.x(mdates.date2num(p.date)), plot.y(p.total)) for p in measure.points]
    doc.set_draw_color(*_rgb(BLUE))
    doc.set_fill_color(*_rgb(BLUE))
    doc.set_line_width(1.5 * PT)
    if len(points) > 1:
        doc.polyline(points)
    for (px, py), point in zip(points, measure.points, strict=True):
        _marker(doc, "o", px, py, 4)
        _text(doc, px, py - 5 * PT - 0.3, str(point.total), size=7, align="C")
    marks = measure.risk_marks or []
    if marks:
        doc.set_fill_color(*_rgb(VERMILLION))
        doc.set_draw_color(*_rgb(BLACK))
        doc.set_line_width(0.5 * PT)
        for mark in marks:
            mx = plot.x(mdates.date2num(mark.date))
            my = plot.y(mark.total if mark.total is not None else top)
            r = 4 * PT
            triangle = [(mx, my - r * 1.15), (mx + r, my + r * 0.6), (mx - r, my + r * 0.6)]
            doc.polygon(triangle, style="DF")
        label = "Risk flag (item 9)"
        doc.set_font(FONT, "", 7)
        lx = plot.right - doc.get_string_width(label) - 5
        doc.polygon(
            [(lx, plot.top + 0.6), (lx + 1.4, plot.top + 3), (lx - 1.4, plot.top + 3)],
            style="DF",
        )
        _text(doc, lx + 2.5, plot.top + 2, label, size=7, middle=True)


def measures(doc: "FPDF", report: ClientReport, x: float, y: float, w: float, h: float) -> None:
    shown = report.measures[:4]
    if not shown:
        _title(doc, x, y, "Questionnaire scores")
        _empty(doc, x, y, w, h, "No questionnaire scores in this period")
        return
    panel = h / len(shown)
    for index, measure in enumerate(shown):
        _measure_panel(doc, measure, report, x, y + index * panel, w, panel)


def mood(doc: "FPDF", report: ClientReport, x: float, y: float, w: float, h: float) -> None:
    _title(doc, x, y, "Mood before and after practice, and discomfort (weekly averages)")
    weeks = report.weeks
    if not any(w.mood_before is not None or w.discomfort is not None for w in weeks):
        _empty(doc, x, y, w, h, "No mood or discomfort ratings in this period")
        return
    plot = _date_plot(x, y + 4, w, h - 4, report, 10.5)
    right = _Plot(plot.left, plot.top, plot.w, plot.h, (plot.x0, plot.x1), (0, 105))
    _axes(doc, plot, right=True)
    _y_ticks(doc, plot, [0, 2, 4, 6, 8, 10], label="Mood (0-10)")
    _y_ticks(doc, right, [0, 20, 40, 60, 80, 100], right=True, label="Discomfort, SUDS (0-100)")
    _x_ticks(doc, plot, date_ticks(report.from_date, report.to_date))
    series = (
        (plot, "Mood before", BLUE, "o", False, [w.mood_before for w in weeks]),
        (plot, "Mood after", GREEN, "s", False, [w.mood_after for w in weeks]),
        (right, "Discomfort", VERMILLION, "^", True, [w.discomfort for w in weeks]),
    )
    legend_x = plot.left + 2
    for axis, label, colour, marker, dashed, values in series:
        present = [
            (axis.x(mdates.date2num(week.period_start)), axis.y(v))
            for week, v in zip(weeks, values, strict=True)
            if v is not None
        ]
        doc.set_draw_color(*_rgb(colour))
        doc.set_fill_color(*_rgb(colour))
        doc.set_line_width(1.5 * PT)
        if dashed:
            doc.set_dash_pattern(dash=2.2, gap=1.0)
        if len(present) > 1:
            doc.polyline(present)
        doc.line(legend_x, y + 8, legend_x + 5, y + 8)
        doc.set_dash_pattern()
        for px, py in present:
            _marker(doc, marker, px, py, 4)
        _marker(doc, marker, legend_x + 2.5, y + 8, 4)
        _text(doc, legend_x + 6.5, y + 8, label, size=7, middle=True)
        doc.set_font(FONT, "", 7)
        legend_x += 6.5 + doc.get_string_width(label) + 5


def minutes(doc: "FPDF", report: ClientReport, x: float, y: float, w: float, h: float) -> None:
    _title(doc, x, y, "Minutes practised per week")
    weeks = report.weeks
    top = max([week.minutes for week in weeks] + [10]) * 1.15
    plot = _Plot(
        x + LEFT,
        y + TITLE_H,
        w - LEFT - RIGHT,
        h - TITLE_H - BOTTOM,
        (-0.6, len(weeks) - 0.4),
        (0, top),
    )
    _axes(doc, plot)
    _y_ticks(doc, plot, nice_ticks(top / 1.15), label="Minutes")
    step = max(1, -(-len(weeks) // 12))  # as the SVG: at most twelve dates
    _x_ticks(
        doc,
        plot,
        [(i, weeks[i].period_start.strftime("%d %b")) for i in range(0, len(weeks), step)],
    )
    doc.set_fill_color(*_rgb(BLUE))
    bar = plot.x(0.35) - plot.x(0)
    for index, week in enumerate(weeks):
        if week.minutes:
            doc.rect(
                plot.x(index) - bar,
                plot.y(week.minutes),
                2 * bar,
                plot.bottom - plot.y(week.minutes),
                style="F",
            )
    for index, week in enumerate(weeks):
        label_y = plot.y(week.minutes + top / 1.15 * 0.02) - 0.3
        _text(doc, plot.x(index), label_y, str(week.minutes), size=6.5, align="C")


# The height of each chart for a width: the SVG charts' proportions (7 in wide).
HEIGHTS: dict[ChartName, Callable[[ClientReport], float]] = {
    ChartName.calendar: lambda r: 1.9,
    ChartName.measures: lambda r: 1.9 * max(1, len(r.measures[:4])),
    ChartName.mood: lambda r: 2.2,
    ChartName.minutes: lambda r: 1.9,
}
DRAW: dict[ChartName, Callable[["FPDF", ClientReport, float, float, float, float], None]] = {
    ChartName.calendar: calendar,
    ChartName.measures: measures,
    ChartName.mood: mood,
    ChartName.minutes: minutes,
}


def height(report: ClientReport, name: ChartName, width: float) -> float:
    if name is ChartName.calendar:
        return _calendar_height(report, width)
    return width * HEIGHTS[name](report) / 7.0


Block = tuple[float, Callable[["FPDF", float, float], None]]


def blocks(report: ClientReport, name: ChartName, width: float) -> list[Block]:
    """The chart as blocks that each stay on one page, (height, draw at x, y): the measures
    one per questionnaire, so that a page holds what fits of them; the others whole."""

    def done(doc: "FPDF") -> None:
        doc.set_draw_color(0, 0, 0)
        doc.set_line_width(0.2)

    if name is ChartName.measures and report.measures:
        panel = width * 1.9 / 7.0

        def measure_panel(measure: ReportMeasure) -> Callable[["FPDF", float, float], None]:
            def draw_panel(doc: "FPDF", x: float, y: float) -> None:
                _measure_panel(doc, measure, report, x, y, width, panel)
                done(doc)

            return draw_panel

        return [(panel, measure_panel(m)) for m in report.measures[:4]]
    full = height(report, name, width)

    def draw_whole(doc: "FPDF", x: float, y: float) -> None:
        DRAW[name](doc, report, x, y, width, full)
        done(doc)

    return [(full, draw_whole)]
