"""The assistant lab: run, score and compare local language-model assistants.

Assistants (system prompt + model + generation parameters) are Hydra configs; backends run
GGUF models locally (llama.cpp, transformers) or talk to any OpenAI-compatible server; suites
score their answers; the lab writes a markdown report with plots into the run folder.
"""
