"""The documentation stays true: generated references current, links resolve, no history."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_LINK = re.compile(r"\]\(([^)#\s]+)(#[^)]*)?\)")


def test_generated_references_are_current() -> None:
    """docs/settings.md and docs/cli.md are what scripts/docs_reference.py writes now."""
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs_reference.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_relative_link_resolves() -> None:
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target, _ in _LINK.findall(page.read_text()):
            if "://" in target or target.startswith("mailto:"):
                continue
            if not (page.parent / target).exists():
                broken.append(f"{page.relative_to(ROOT)} -> {target}")
    assert not broken


def test_the_readme_stays_short_and_keeps_its_two_commands() -> None:
    lines = (ROOT / "README.md").read_text().splitlines()
    assert len(lines) <= 200
    assert lines[2].startswith("Demo: `./scripts/install && ")
    assert lines[3].startswith("Tests: `./scripts/install && ")


def test_no_tracker_issue_numbers_in_code_tests_or_docs() -> None:
    """Cite an upstream bug by its URL; our tracker's numbers mean nothing to a reader."""
    pattern = re.compile(r"\bissues? #?\d+", re.IGNORECASE)
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    found = []
    for name in tracked:
        if not name.endswith((".py", ".md", ".yml", ".yaml", ".toml")):
            continue
        for number, line in enumerate((ROOT / name).read_text(errors="replace").splitlines(), 1):
            if pattern.search(line) and "://" not in line:
                found.append(f"{name}:{number}: {line.strip()}")
    assert not found


def test_every_environment_variable_we_read_is_documented() -> None:
    documented = (ROOT / "docs" / "environment.md").read_text()
    # A string literal that is the whole name, read through os.environ/getenv or an envvar=.
    literal = re.compile(
        r"(?:environ\.get\(|environ\[|getenv\(|env_flag\(|envvar=\[?|_ENV\b.*= ?)[\"']"
        r"((?:ANNEX_CDK|AWS|XDG)_[A-Z_]*[A-Z]|CONDOR_CONFIG)[\"']"
    )
    missing = set()
    for folder in ("cli", "annex_stacks"):
        for path in (ROOT / folder).rglob("*.py"):
            missing |= {n for n in literal.findall(path.read_text()) if n not in documented}
    for path in (ROOT / "scripts" / "ci").iterdir():
        names = set(re.findall(r"\$\{?((?:ANNEX|AWS|GITHUB)_[A-Z_]*[A-Z])", path.read_text()))
        missing |= {n for n in names if n not in documented}
    assert not missing
