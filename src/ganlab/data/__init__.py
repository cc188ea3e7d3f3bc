"""Data sets and the code that fetches and verifies their files."""
