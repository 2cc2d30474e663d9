"""Rendering off the event loop: matplotlib and fpdf2 work in a worker thread, one rendering at
a time per process (they share process-wide state: rcParams, font caches), so that the event
loop serves other requests meanwhile."""

import threading
from collections.abc import Callable
from typing import Any

import anyio

from app.reports.charts import render_chart
from app.reports.pdf import render_pdf
from app.reports.schemas import ChartName, ClientReport

_RENDERING = threading.Lock()


def _locked(function: Callable[..., bytes], *args: Any) -> bytes:
    with _RENDERING:
        return function(*args)


async def pdf_of(report: ClientReport) -> bytes:
    return await anyio.to_thread.run_sync(_locked, render_pdf, report)


async def svg_of(report: ClientReport, chart: ChartName) -> bytes:
    return await anyio.to_thread.run_sync(_locked, render_chart, report, chart)
