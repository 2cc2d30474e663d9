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
- Fast: a chart is one or two Axes with fixed margins and title and label positions; the many
  small things (the calendar's days, the weekly bars, the point labels, the axes' ticks) are
  drawn by one artist each (`_Boxes`, `_Labels`, `_Ticks`) rather than one matplotlib artist
  apiece, which is what made a year's calendar or measures take a fifth of a second.
"""

import io
from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, cast

import matplotlib
import numpy as np

matplotlib.use("Agg")  # before anything else of matplotlib: never a display

from matplotlib import dates as mdates
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.backend_bases import RendererBase
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Patch
from matplotlib.path import Path
from matplotlib.transforms import IdentityTransform

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
        # A fixed title position: placing it above the tick labels measured every label.
        "axes.titley": 1.0,
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
    # Axis labels at a fixed distance (0.45 in) from their spine: placed automatically, each
    # is put clear of the tick labels by measuring them all again.
    for ax in figure.axes:
        inches = ax.get_position().width * figure.get_figwidth()
        ax.xaxis.set_label_coords(0.5, -0.3)
        right = ax.yaxis.get_label_position() == "right"
        ax.yaxis.set_label_coords(1 + 0.45 / inches if right else -0.45 / inches, 0.5)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="svg", metadata={"Date": None, "Title": title})
    return buffer.getvalue()


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=GREY)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)


class _Boxes(Artist):
    """Many rectangles as one artist (the calendar's days, the weekly bars): each is still its
    own `<g id="day-...">` with its fill, but hundreds of Rectangle artists (created, clipped,
    drawn one by one) were most of a chart's time. Boxes are (x, y, width, height, colour,
    outlined, gid) in data units."""

    def __init__(self, boxes: list[tuple[float, float, float, float, str, bool, str]]) -> None:
        super().__init__()
        self.boxes = boxes
        self.set_zorder(1)

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible() or self.axes is None or not self.boxes:
            return
        unit = Path.unit_rectangle()
        corners = np.array(
            [(x, y, w, h) for x, y, w, h, *_ in self.boxes], dtype=float
        )  # (n, 4) -> (n, 5 corners, 2)
        shape = np.asarray(unit.vertices, dtype=float)[None]
        points = corners[:, None, :2] + corners[:, None, 2:] * shape
        # Every corner to the page at once; each box is then drawn as it stands.
        on_page = self.axes.transData.transform(points.reshape(-1, 2)).reshape(points.shape)
        gc = renderer.new_gc()
        gc.set_joinstyle("miter")
        gc.set_capstyle("butt")
        identity = IdentityTransform()
        for (*_, colour, outlined, gid), vertices in zip(self.boxes, on_page, strict=True):
            renderer.open_group("patch", gid)
            gc.set_linewidth(0.5 if outlined else 0)
            gc.set_foreground(GREY if outlined else colour)
            renderer.draw_path(gc, Path(vertices, unit.codes), identity, to_rgb(colour))
            renderer.close_group("patch")
        gc.restore()
        self.stale = False


def _draw_texts(
    renderer: RendererBase,
    anchors: Any,
    texts: list[str],
    font: FontProperties,
    *,
    ha: str = "center",
    va: str = "baseline",
    dx: float = 0.0,
    dy: float = 0.0,
    colour: str = BLACK,
) -> None:
    """Texts at display coordinates, aligned as Text would be, each measured once per distinct
    string: a Text artist each cost half a millisecond of layout, an axis's Tick several."""
    dx, dy = cast(float, renderer.points_to_pixels(dx)), cast(float, renderer.points_to_pixels(dy))
    # Backends that count y downwards (SVG) take text positions flipped, as Text.draw does.
    height = renderer.get_canvas_width_height()[1] if renderer.flipy() else None
    metrics: dict[str, tuple[float, float, float]] = {}
    gc = renderer.new_gc()
    gc.set_foreground(colour)
    for (x, y), text in zip(anchors, texts, strict=True):
        if text not in metrics:
            metrics[text] = renderer.get_text_width_height_descent(text, font, False)
        width, tall, descent = metrics[text]
        left = x + dx - {"left": 0, "center": width / 2, "right": width}[ha]
        ascent = tall - descent
        base = y + dy - {"baseline": 0, "top": ascent, "center": ascent / 2}[va]
        renderer.draw_text(gc, left, base if height is None else height - base, text, font, 0)
    gc.restore()


class _Labels(Artist):
    """Short labels centred above data points (a measure's totals, a week's minutes), as one
    artist. Labels are (x, y, text) in data units, raised by `offset` points."""

    def __init__(self, labels: list[tuple[float, float, str]], size: float, offset: float) -> None:
        super().__init__()
        self.labels = labels
        self.offset = offset
        self.font = FontProperties(family=FONT_FAMILY, size=size)
        self.set_zorder(3)

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible() or self.axes is None or not self.labels:
            return
        anchors = self.axes.transData.transform([(x, y) for x, y, _ in self.labels])
        renderer.open_group("labels", None)
        _draw_texts(renderer, anchors, [t for *_, t in self.labels], self.font, dy=self.offset)
        renderer.close_group("labels")
        self.stale = False


class _Ticks(Artist):
    """One side's ticks, drawn as matplotlib draws them (3.5 pt marks, labels 3.5 pt beyond)
    without its Tick objects: each is two lines, a grid line and two texts, created per chart,
    and they were half of a chart's time. Ticks are (position in data units, label)."""

    def __init__(
        self, side: str, ticks: list[tuple[float, str]], length: float = 3.5, size: float = 7.5
    ) -> None:
        super().__init__()
        self.side, self.ticks, self.length = side, ticks, length
        self.font = FontProperties(family=FONT_FAMILY, size=size)
        self.set_zorder(2.5)

    def draw(self, renderer: RendererBase) -> None:
        if not self.get_visible() or self.axes is None or not self.ticks:
            return
        ax = self.axes
        if self.side == "bottom":
            anchors = ax.get_xaxis_transform().transform([(v, 0) for v, _ in self.ticks])
            step, align = np.array([0.0, -1.0]), {"ha": "center", "va": "top"}
        else:
            edge = 1 if self.side == "right" else 0
            anchors = ax.get_yaxis_transform().transform([(edge, v) for v, _ in self.ticks])
            step = np.array([1.0 if edge else -1.0, 0.0])
            align = {"ha": "left" if edge else "right", "va": "center"}
        length = renderer.points_to_pixels(self.length)
        renderer.open_group(f"ticks-{self.side}", None)
        if self.length:
            vertices = np.concatenate([[a, a + step * length] for a in anchors])
            codes = [Path.MOVETO, Path.LINETO] * len(anchors)
            gc = renderer.new_gc()
            gc.set_linewidth(0.8)
            gc.set_foreground(BLACK)
            gc.set_capstyle("butt")
            renderer.draw_path(gc, Path(vertices, codes), IdentityTransform())
            gc.restore()
        reach = self.length + 3.5
        _draw_texts(
            renderer,
            anchors,
            [label for _, label in self.ticks],
            self.font,
            dx=step[0] * reach,
            dy=step[1] * reach,
            **align,
        )
        renderer.close_group(f"ticks-{self.side}")
        self.stale = False


def _ticks(ax: Axes, side: str, ticks: list[tuple[float, str]], length: float = 3.5) -> None:
    if side == "bottom":
        ax.set_xticks([])
    else:
        ax.set_yticks([])
    ax.add_artist(_Ticks(side, ticks, length))


def date_ticks(first: date, last: date) -> list[tuple[float, str]]:
    """A window's date ticks: matplotlib's AutoDateLocator over the plotted range."""
    low, high = (
        mdates.date2num(first - timedelta(days=1)),
        mdates.date2num(last + timedelta(days=1)),
    )
    locator = mdates.AutoDateLocator(minticks=3, maxticks=8)
    values = locator.tick_values(mdates.num2date(low), mdates.num2date(high))
    return [(float(v), mdates.num2date(v).strftime("%d %b")) for v in values if low <= v <= high]


def nice_ticks(top: float, most: int = 6) -> list[float]:
    """Round steps from 0 up to `top`, at most `most` + 1 of them."""
    steps = (1, 2, 5, 10, 20, 25, 50, 100, 200, 250, 500, 1000, 2000, 5000)
    step: float = next((s for s in steps if top / s <= most), top / most)
    return [step * i for i in range(int(top // step) + 1)]


def _numbers(values: list[float]) -> list[tuple[float, str]]:
    return [(v, f"{v:g}") for v in values]


def month_ticks(first_monday: date, columns: int) -> list[tuple[int, str]]:
    """(column, label) of the calendar's columns that start a month; the first says its day."""
    months = []
    for column in range(columns):
        monday = first_monday + timedelta(days=7 * column)
        if column == 0 or monday.day <= 7:
            months.append(
                (column, monday.strftime("%b %d") if column == 0 else monday.strftime("%b"))
            )
    return months


def calendar(report: ClientReport) -> bytes:
    """One square per local day, a column per week (Monday first)."""
    days = report.calendar
    first_monday = days[0].date - timedelta(days=days[0].date.weekday())
    columns = (days[-1].date - first_monday).days // 7 + 1
    figure = _figure(1.9, right=1.3)  # room for the legend
    ax = figure.add_subplot()
    labels = DAY_LABELS[report.audience]
    ax.add_artist(
        _Boxes(
            [
                (
                    (day.date - first_monday).days // 7,
                    6 - day.date.weekday(),
                    0.86,
                    0.86,
                    DAY_COLOURS[day.status],
                    day.status is DayStatus.upcoming,
                    f"day-{day.date.isoformat()}",
                )
                for day in days
            ]
        )
    )
    ax.set_xlim(-0.2, max(columns, 12) + 0.1)
    ax.set_ylim(-0.2, 7.1)
    ax.set_aspect("equal", adjustable="box", anchor="W")
    _ticks(ax, "left", [(6.43, "Mon"), (4.43, "Wed"), (2.43, "Fri"), (0.43, "Sun")], length=0)
    months = month_ticks(first_monday, columns)
    _ticks(ax, "bottom", [(c + 0.43, t) for c, t in months], length=0)
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
    _ticks(ax, "bottom", date_ticks(first, last))


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
    _ticks(ax, "left", _numbers(nice_ticks(top)))
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
    ax.add_artist(_Labels([(x, y, str(y)) for x, y in zip(xs, ys, strict=True)], 7, 5))
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
    # Half an inch between panels: a panel's title clear of the date labels of the one above.
    panel = (figure.get_figheight() - 0.7 - 0.5 * (len(shown) - 1)) / len(shown)
    figure.subplots_adjust(hspace=0.5 / panel)
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
    # Mood (0-10) on the left, discomfort (0-100) on the right: one axes, its y running to
    # 10.5, discomfort drawn at a tenth (a twin axes cost a sixth of the chart).
    ax.set_ylim(0, 10.5)
    ax.set_ylabel("Mood (0-10)")
    _ticks(ax, "left", _numbers([0, 2, 4, 6, 8, 10]))
    _ticks(ax, "right", [(v / 10, f"{v}") for v in (0, 20, 40, 60, 80, 100)])
    inches = ax.get_position().width * figure.get_figwidth()
    ax.text(
        1 + 0.45 / inches,
        0.5,
        "Discomfort, SUDS (0-100)",
        transform=ax.transAxes,
        rotation=90,
        ha="center",
        va="center",
    )
    ax.spines["right"].set_visible(True)
    series = (
        ("mood-before", "Mood before", BLUE, "o", "-", [w.mood_before for w in weeks]),
        ("mood-after", "Mood after", GREEN, "s", "-", [w.mood_after for w in weeks]),
        (
            "discomfort",
            "Discomfort",
            VERMILLION,
            "^",
            "--",
            [None if w.discomfort is None else w.discomfort / 10 for w in weeks],
        ),
    )
    handles = []
    for gid, label, colour, marker, style, values in series:
        points = [(mdates.date2num(w.period_start), v) for w, v in zip(weeks, values, strict=True)]
        present = [(x, v) for x, v in points if v is not None]
        (line,) = ax.plot(
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
    ax.add_artist(
        _Boxes(
            [
                (i - 0.35, 0, 0.7, w.minutes, BLUE, False, f"week-{w.period_start.isoformat()}")
                for i, w in enumerate(weeks)
            ]
        )
    )
    ax.add_artist(
        _Labels([(i, w.minutes + top * 0.02, str(w.minutes)) for i, w in enumerate(weeks)], 6.5, 0)
    )
    low, high = -0.35, len(weeks) - 0.65  # the bars' extent, with matplotlib's 5% margins
    ax.set_xlim(low - 0.05 * (high - low), high + 0.05 * (high - low))
    ax.set_ylim(0, top * 1.15)
    step = max(1, -(-len(weeks) // 12))  # at most twelve dates: they overlap beyond
    _ticks(
        ax,
        "bottom",
        [(i, weeks[i].period_start.strftime("%d %b")) for i in range(0, len(weeks), step)],
    )
    _ticks(ax, "left", _numbers(nice_ticks(top)))
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
