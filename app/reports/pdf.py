"""The report as a PDF (fpdf2): one to three A4 or Letter pages, the charts drawn as vector
graphics (`pdf_charts`: the data, colours and labels of the SVGs of `?chart=`), all text
selectable, the font embedded.

The font is DejaVu Sans, the one matplotlib ships (`mpl-data/fonts/ttf`; the Bitstream Vera
licence lets anyone embed and redistribute it), so the charts and the text share it and nothing
comes from the system. Deterministic: the creation date is the report's `generated_at`, and the
document id follows from the content, so the same report gives the same bytes.
"""

import copy
import io
import logging
import os
import tempfile
from collections import OrderedDict
from datetime import datetime
from pathlib import Path

import matplotlib
from fontTools import subset, ttLib  # type: ignore[import-untyped]
from fpdf import FPDF
from fpdf.enums import XPos, YPos
from fpdf.fonts import TTFFont

from app.reports import pdf_charts
from app.reports.charts import FONT_FAMILY
from app.reports.schemas import Audience, ChartName, ClientReport, Paper

FONT_DIR = Path(matplotlib.get_data_path()) / "fonts" / "ttf"
REGULAR, BOLD = FONT_DIR / "DejaVuSans.ttf", FONT_DIR / "DejaVuSans-Bold.ttf"
MARGIN = 15.0  # mm
TEXT, MUTED, RULE = (20, 20, 20), (90, 90, 90), (200, 200, 200)
logging.getLogger("fontTools.subset").setLevel(logging.ERROR)


# The scripts the embedded font covers (DejaVu Sans has them; other scripts print as boxes):
# Latin with its extensions and Vietnamese, Greek, Cyrillic, Armenian, Hebrew, Georgian, and
# the punctuation and symbols the report uses. A font cut down to these parses and subsets in
# a fraction of the time the whole one (6,000 glyphs) takes.
UNICODES = [
    *range(0x20, 0x7F),
    *range(0xA0, 0x530),
    *range(0x530, 0x600),
    *range(0x10A0, 0x1100),
    *range(0x1E00, 0x2000),
    *range(0x2000, 0x2070),
    *range(0x20A0, 0x20D0),
    *range(0x2100, 0x2150),
    *range(0x2190, 0x2200),
    *range(0x25A0, 0x2600),
    0x2605,  # ★
    0x2610,  # ☐
    0x2611,  # ☑
    0x2713,  # ✓
]
_PARSED: dict[str, TTFFont] = {}


def _cut_font(source: Path) -> Path:
    """DejaVu cut down to UNICODES, written once per installation to the temp directory (the
    name carries the source's size and matplotlib's version, so an upgrade writes anew)."""
    folder = Path(tempfile.gettempdir()) / f"homework-api-fonts-{os.getuid()}"
    target = folder / f"{source.stem}-{matplotlib.__version__}-{source.stat().st_size}.ttf"
    if target.exists():
        return target
    folder.mkdir(mode=0o700, exist_ok=True)
    font = ttLib.TTFont(source, recalcTimestamp=False)
    # No hinting (PDF viewers scale outlines) and no layout tables (fpdf2 does not shape).
    options = subset.Options(
        glyph_names=True, notdef_outline=True, recommended_glyphs=True, hinting=False
    )
    options.layout_features = []
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=UNICODES)
    subsetter.subset(font)
    partial = target.with_suffix(f".{os.getpid()}.part")
    font.save(partial)
    os.replace(partial, target)  # atomic: a concurrent process never reads half a file
    return target


def _add_fonts(pdf: FPDF) -> None:
    """DejaVu Sans regular and bold under the family name the charts' SVG text asks for.

    Each font is parsed once per process and every document gets a copy: fpdf2's copy shares
    the parsed tables and copies what a document changes (the glyphs it uses). The one shared
    thing a document changes is the fontTools font, which the output step subsets in place:
    each copy gets a fresh, lazily read one."""
    for style, source in (("", REGULAR), ("B", BOLD)):
        key = FONT_FAMILY.lower() + style
        template = _PARSED.get(key)
        path = _PATHS[key] = _cut_font(source)
        if template is None:
            pdf.add_font(FONT_FAMILY, style, str(path))
            parsed = pdf.fonts[key]
            assert isinstance(parsed, TTFFont)
            _PARSED[key] = copy.deepcopy(parsed)
            continue
        font = copy.deepcopy(template)
        font.i = len(pdf.fonts) + 1
        font.ttfont = ttLib.TTFont(path, recalcTimestamp=False, lazy=True)
        pdf.fonts[key] = font


# The fonts a document embeds, cut to the glyphs it prints, by font and glyph set: a pure
# function of the two, so it can never be stale. fpdf2 subsets the whole font at output (a
# third of a PDF's time); handed one already cut to the same glyphs, it subsets a few dozen.
_SUBSETS: OrderedDict[tuple[str, tuple[str, ...]], bytes] = OrderedDict()
_SUBSETS_KEPT = 64
# Where a glyph set is cut from when it is new: Latin with its extensions, the punctuation and
# the report's symbols (nearly every report), a quarter of the font, so half the work.
COMMON = [*range(0x20, 0x250), *range(0x2000, 0x2070), 0x2192, 0x2605, 0x2610, 0x2611, 0x2713]
_COMMON: dict[str, tuple[bytes, frozenset[str]]] = {}
_PATHS: dict[str, Path] = {}


def _cut(
    font: ttLib.TTFont, glyphs: list[str] | None = None, unicodes: list[int] | None = None
) -> bytes:
    options = subset.Options(
        glyph_names=True, notdef_outline=True, recommended_glyphs=True, hinting=False
    )
    options.layout_features = []
    options.drop_tables += ["FFTM", "GSUB", "GPOS", "GDEF"]
    subsetter = subset.Subsetter(options)
    subsetter.populate(glyphs=glyphs or [], unicodes=unicodes or [])
    subsetter.subset(font)
    buffer = io.BytesIO()
    font.save(buffer)
    return buffer.getvalue()


def _common(key: str) -> tuple[bytes, frozenset[str]]:
    found = _COMMON.get(key)
    if found is None:
        cut = _cut(ttLib.TTFont(_PATHS[key], recalcTimestamp=False), unicodes=COMMON)
        names = frozenset(ttLib.TTFont(io.BytesIO(cut), lazy=True).getGlyphOrder())
        found = _COMMON[key] = (cut, names)
    return found


def _cut_to_glyphs(pdf: FPDF) -> None:
    for key, font in pdf.fonts.items():
        if not isinstance(font, TTFFont):
            continue
        names = tuple(sorted(set(font.subset.get_all_glyph_names())))
        cache_key = (key, names)
        cut = _SUBSETS.get(cache_key)
        if cut is None:
            common, common_names = _common(key)
            source = (
                ttLib.TTFont(io.BytesIO(common), recalcTimestamp=False, lazy=True)
                if common_names.issuperset(names)
                else font.ttfont
            )
            cut = _SUBSETS[cache_key] = _cut(source, glyphs=list(names))
            while len(_SUBSETS) > _SUBSETS_KEPT:
                _SUBSETS.popitem(last=False)
        else:
            _SUBSETS.move_to_end(cache_key)
        font.ttfont = ttLib.TTFont(io.BytesIO(cut), recalcTimestamp=False, lazy=True)


class _Document(FPDF):
    def __init__(self, report: ClientReport) -> None:
        super().__init__(format="A4" if report.paper is Paper.a4 else "letter", unit="mm")
        self.report = report
        self.set_margins(MARGIN, MARGIN, MARGIN)
        self.set_auto_page_break(True, margin=MARGIN + 5)
        _add_fonts(self)
        self.set_creation_date(report.generated_at)
        self.set_lang("en")
        title = "Your progress" if report.audience is Audience.client else "Progress report"
        self.set_title(f"{title}: {report.client.display_name}")
        self.set_author(report.clinic.name)
        self.set_creator("Therapy Homework API")
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-MARGIN)
        self.set_font(FONT_FAMILY, size=7)
        self.set_text_color(*MUTED)
        r = self.report
        note = (
            "Your own copy of your progress."
            if r.audience is Audience.client
            else "Confidential health information."
        )
        self.cell(
            0,
            4,
            f"{r.client.display_name} · {r.from_date.isoformat()} to {r.to_date.isoformat()} · "
            f"{note} Page {self.page_no()} of {{nb}}",
            align="C",
        )

    @property
    def width(self) -> float:
        return self.w - 2 * MARGIN

    def heading(self, text: str, size: float = 11) -> None:
        self.set_font(FONT_FAMILY, "B", size)
        self.set_text_color(*TEXT)
        self.cell(0, size * 0.55, text, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(1)

    def line_text(
        self, text: str, size: float = 9, muted: bool = False, bold: bool = False
    ) -> None:
        """A paragraph, wrapped at spaces to the text width. (fpdf2's `multi_cell` measures
        each line again for every character it adds: half a long report's time.)"""
        self.set_font(FONT_FAMILY, "B" if bold else "", size)
        self.set_text_color(*(MUTED if muted else TEXT))
        for line in self._wrap(text, self.w - self.l_margin - self.r_margin - 2 * self.c_margin):
            self.cell(0, size * 0.5, line, new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _wrap(self, text: str, room: float) -> list[str]:
        if self.get_string_width(text) <= room:
            return [text]
        space = self.get_string_width(" ")
        lines: list[str] = []
        line: list[str] = []
        used = -space
        for word in text.split(" "):
            width = self.get_string_width(word)
            if line and used + space + width > room:
                lines.append(" ".join(line))
                line, used = [], -space
            while width > room:  # a word wider than the line: cut it where it fills one
                cut = next(
                    n for n in range(len(word), 0, -1) if self.get_string_width(word[:n]) <= room
                )
                lines.append(word[:cut])
                word = word[cut:]
                width = self.get_string_width(word)
            line.append(word)
            used += space + width
        if line:
            lines.append(" ".join(line))
        return lines

    def chart(self, name: ChartName) -> None:
        for height, draw in pdf_charts.blocks(self.report, name, self.width):
            if self.will_page_break(height + 2):
                self.add_page()
            draw(self, MARGIN, self.get_y())
            self.set_y(self.get_y() + height + 2)


def _pairs(report: ClientReport) -> list[tuple[str, str]]:
    m = report.metrics
    a = m.adherence
    rate = f"{a.rate * 100:.1f}%" if a.rate is not None else "n/a"
    pairs = [
        ("Adherence", f"{rate} ({a.completed} of {a.scheduled - a.paused} done)"),
        ("Skipped / missed", f"{a.skipped} / {a.missed}"),
        ("Streak", f"current {m.streaks.current} days, longest {m.streaks.longest} days"),
        ("Minutes practised", str(m.minutes_practised)),
        (
            "Mood before → after",
            f"{_num(m.mood.average_before)} → {_num(m.mood.average_after)} "
            f"(change {_num(m.mood.average_change, signed=True)}, "
            f"{m.mood.completions_with_both} ratings)",
        ),
        ("Discomfort (SUDS)", f"average {_num(m.discomfort.average)}"),
    ]
    if m.skip_reasons:
        reasons = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(m.skip_reasons.items()))
        pairs.append(("Skip reasons", reasons))
    if report.risk_flagged is not None:
        pairs.append(("Risk-flagged completions", str(report.risk_flagged)))
    return pairs


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    return f"{value:+g}" if signed else f"{value:g}"


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


def render_pdf(report: ClientReport) -> bytes:
    doc = _Document(report)
    doc.add_page()
    client_copy = report.audience is Audience.client
    doc.set_font(FONT_FAMILY, "B", 16)
    doc.set_text_color(*TEXT)
    doc.cell(
        0,
        8,
        ("Your progress, " if client_copy else "Progress report: ") + report.client.display_name,
        new_x=XPos.LMARGIN,
        new_y=YPos.NEXT,
    )
    therapists = ", ".join(t.display_name for t in report.therapists) or "none"
    doc.line_text(
        f"{report.clinic.name} · {report.from_date.isoformat()} to {report.to_date.isoformat()} · "
        f"{'Your therapists' if client_copy else 'Therapists'}: {therapists}",
        muted=True,
    )
    doc.line_text(
        f"Generated {_local(report.generated_at)} ({report.client.timezone})", size=8, muted=True
    )
    doc.set_draw_color(*RULE)
    doc.line(MARGIN, doc.get_y() + 1.5, doc.w - MARGIN, doc.get_y() + 1.5)
    doc.ln(4)

    doc.heading("What changed" if not client_copy else "How it went")
    for sentence in report.summary:
        doc.line_text(f"•  {sentence}")
    doc.ln(2)

    doc.heading("Key numbers")
    doc.set_font(FONT_FAMILY, "", 9)
    with doc.table(
        col_widths=(45, doc.width - 45),
        text_align=("LEFT", "LEFT"),
        first_row_as_headings=False,
        line_height=5,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for label, value in _pairs(report):
            row = table.row()
            row.cell(label)
            row.cell(value)
    doc.ln(3)
    doc.chart(ChartName.calendar)
    doc.chart(ChartName.measures)
    if report.measures:
        _measure_table(doc, report)
    doc.chart(ChartName.mood)
    doc.chart(ChartName.minutes)
    _goals(doc, report)
    _achievements(doc, report)
    _to_discuss(doc, report)
    _cut_to_glyphs(doc)
    return bytes(doc.output())


def _measure_table(doc: _Document, report: ClientReport) -> None:
    doc.set_font(FONT_FAMILY, "", 8)
    for measure in report.measures:
        flags = {mark.date for mark in measure.risk_marks or []}
        scores = "; ".join(
            f"{p.date.strftime('%d %b')}: {p.total}"
            + (f" {p.band_label.lower()}" if p.band_label else "")
            + (" (risk flag)" if p.date in flags else "")
            for p in measure.points
        )
        doc.line_text(f"{measure.title}: {scores or 'no scores'}", size=8)
    doc.ln(2)


def _goals(doc: _Document, report: ClientReport) -> None:
    doc.heading("Goals" if report.audience is Audience.clinician else "Your goals")
    if not report.goals:
        doc.line_text("No goals yet.", muted=True)
    for goal in report.goals:
        progress = f"{goal.steps_done} of {goal.steps_total} steps"
        target = f", target {goal.target_date.isoformat()}" if goal.target_date else ""
        doc.line_text(f"{goal.title} ({goal.status.value}{target}): {progress}", bold=True)
        if goal.steps_total:
            y = doc.get_y() + 0.5
            doc.set_fill_color(*RULE)
            doc.rect(MARGIN, y, 60, 2.2, style="F")
            doc.set_fill_color(0, 158, 115)  # Okabe-Ito bluish green
            doc.rect(MARGIN, y, 60 * goal.steps_done / goal.steps_total, 2.2, style="F")
            doc.ln(4)
        for step in goal.steps:
            doc.line_text(f"    {'☑' if step.done else '☐'}  {step.title}", size=8.5)
        doc.ln(1)
    doc.ln(2)


# The longest lists are cut in the PDF (a year's window would run to a fourth page); the JSON
# report, same numbers, has them whole.
LIST_LIMIT = 8


def _more(doc: _Document, shown: int, total: int, what: str) -> None:
    """`… and 8 earlier ones (all in the JSON report)`, when the list was cut."""
    if total > shown:
        doc.line_text(f"… and {total - shown} {what} (all in the JSON report)", muted=True)


def _achievements(doc: _Document, report: ClientReport) -> None:
    doc.heading("Achievements in this period")
    if not report.achievements:
        doc.line_text("None in this period.", muted=True)
    latest = sorted(report.achievements, key=lambda a: a.earned_at)[-LIST_LIMIT:]
    for achievement in latest:
        doc.line_text(f"★  {achievement.title} ({achievement.earned_at.date().isoformat()})")
    _more(doc, len(latest), len(report.achievements), "earlier ones")
    doc.ln(2)


def _to_discuss(doc: _Document, report: ClientReport) -> None:
    client_copy = report.audience is Audience.client
    doc.heading("You wanted to talk about" if client_copy else "The client wants to discuss")
    if not report.to_discuss:
        doc.line_text("Nothing marked.", muted=True)
    # The ones not reviewed yet first, then the latest; shown in date order.
    chosen = sorted(report.to_discuss, key=lambda i: (not i.reviewed, i.date))[-LIST_LIMIT:]
    shown = sorted(chosen, key=lambda i: i.date)
    for item in shown:
        state = "" if client_copy else (" · reviewed" if item.reviewed else " · not reviewed")
        doc.line_text(f"{item.date.isoformat()} · {item.title} ({item.status}){state}", bold=True)
        if item.note:
            doc.line_text(f"“{item.note}”", size=8.5, muted=True)
    _more(doc, len(shown), len(report.to_discuss), "more")
