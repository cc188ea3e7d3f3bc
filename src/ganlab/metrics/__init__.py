"""Ways to measure generated images; the evaluator classifier is trained by the project itself."""

from ganlab.metrics.generation_quality import KEYS, QualityMetrics

__all__ = ["KEYS", "QualityMetrics"]
