"""Reusable constructs, one per AWS concept; each takes a frozen dataclass of props."""
