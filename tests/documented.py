"""Numbers the user documentation promises, for tests that hold the code to them (a test that
compares the code with its own constant proves nothing)."""

from __future__ import annotations

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[1] / "docs"
_WORDS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "ten": 10}


def documented_number(page: str, pattern: str) -> int:
    """The number ``pattern``'s group 1 finds in docs/``page``, written as a word or digits."""
    text = " ".join((DOCS / page).read_text().split())  # a sentence may wrap anywhere
    match = re.search(pattern, text)
    assert match, f"docs/{page} no longer says {pattern!r}"
    word = match.group(1)
    return int(word) if word.isdigit() else _WORDS[word]
