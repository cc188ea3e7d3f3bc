"""Scorers: turn a free-text reply into something checkable (a number, a label, a pass/fail of
generated code, text statistics, a refusal flag). Each module is one kind of check; suites
combine them."""
