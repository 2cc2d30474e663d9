"""Rendering off the event loop: matplotlib and fpdf2 work in a worker thread, one rendering at
a time per process (they share process-wide state: rcParams, font caches), so that the event
loop serves other requests meanwhile."""

import gc
import threading
from collections.abc import Callable
from typing import Any

import anyio

from app.reports.schemas import ChartName, ClientReport

_RENDERING = threading.Lock()
_first = True


def rendered(function: Callable[..., bytes], *args: Any) -> bytes:
    """One rendering, then a collection of the young generations. A chart's figure is a web of
    reference cycles: collected while it is young, that costs a few milliseconds; left to age,
    the figures bring on a full collection of the whole process (over 100 ms with the app
    loaded) every few dozen renderings, which was most of the tail.

    The process's first rendering loads what lives as long as the process (matplotlib's font
    manager and caches, ~100k objects): it is frozen then, as the start-up heap is
    (`app.main.tune_garbage_collector`), so that full collections stop walking it."""
    global _first
    with _RENDERING:
        content = function(*args)
        if _first:
            _first = False
            gc.collect()
            gc.freeze()
            return content
    gc.collect(1)
    return content


# matplotlib, numpy and fpdf2 are imported by the first rendering (in its worker thread), not
# when the app starts: they are ~100 MB of every worker's memory, and most processes (the
# worker, most API processes most of the time) never render a report.


def _pdf(report: ClientReport) -> bytes:
    from app.reports.pdf import render_pdf

    return render_pdf(report)


def _chart(report: ClientReport, chart: ChartName) -> bytes:
    from app.reports.charts import render_chart

    return render_chart(report, chart)


async def pdf_of(report: ClientReport) -> bytes:
    return await anyio.to_thread.run_sync(rendered, _pdf, report)


async def svg_of(report: ClientReport, chart: ChartName) -> bytes:
    return await anyio.to_thread.run_sync(rendered, _chart, report, chart)
