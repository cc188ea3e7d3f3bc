"""Ways to measure generated images; the evaluator classifier is trained by the project itself."""
