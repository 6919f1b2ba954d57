"""File formats metricwatch reads: one module per format, bytes in, records out."""

from metricwatch.readers.metrics_json import DAMAGE_KINDS, ParseResult, parse_metrics_json

__all__ = ["DAMAGE_KINDS", "ParseResult", "parse_metrics_json"]
