"""Prompting techniques: template-, rule- and ML-based ways of asking the same item.

Each technique turns an item into a prompt (question, earlier turns, system prompt, parameters)
for a given assistant, so the lab scores every technique on the same items with the same scorer.
"""
