"""Comparison suites: each module is one suite (its items, how a reply is scored)."""
