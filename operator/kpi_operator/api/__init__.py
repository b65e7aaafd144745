"""The contract: KPI and SLO models, durations, PromQL checks and document loading. Pure: no I/O."""

from .loading import Document, Problem, load_text, parse_object
from .models import API_VERSION, GROUP, KPI, SLO, VERSION

__all__ = ["API_VERSION", "GROUP", "VERSION", "KPI", "SLO", "Document", "Problem", "load_text", "parse_object"]
