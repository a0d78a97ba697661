"""The report: one self-contained HTML page of a run directory (figures embedded)."""

from .html import SECTIONS, write_report

__all__ = ["write_report", "SECTIONS"]
