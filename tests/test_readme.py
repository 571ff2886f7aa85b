"""The README is the user's first path: its Python snippet runs as written and its links resolve."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


def _anchor(heading: str) -> str:
    """GitHub's anchor of a markdown heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def _links(markdown: str) -> list[str]:
    return re.findall(r"\]\(([^)\s]+)\)", markdown)


def test_the_readme_python_snippet_runs_and_prints_both_returns():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "the README has no python snippet"
    done = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert re.search(r"learned return -?\d+\.\d\d, simulator return -?\d+\.\d\d", done.stdout), done.stdout


def test_the_readme_shipped_model_snippet_runs_on_lift():
    import pytest

    pytest.importorskip("robosuite", reason="needs the robomimic extra (bash scripts/install_robomimic.sh VENV)")
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    snippet = next(b for b in blocks if "sim-rm-robomimic" in b)
    done = subprocess.run([sys.executable, "-c", snippet], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert re.search(r"learned reward [+-]\d\.\d{3}, progress \d\.\d\d", done.stdout), done.stdout


def test_the_reward_forms_page_snippets_run():
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "docs" / "reward-forms.md").read_text(), flags=re.S)
    assert blocks, "docs/reward-forms.md has no python snippet"
    for block in blocks:
        done = subprocess.run([sys.executable, "-c", block], capture_output=True, text=True, timeout=300, cwd=ROOT)
        assert done.returncode == 0, done.stderr


def test_the_readme_stays_a_short_path():
    assert len(README.read_text().splitlines()) <= 120


def test_every_relative_link_in_the_readme_and_docs_resolves():
    pages = [README, *sorted((ROOT / "docs").glob("*.md"))]
    assert len(pages) > 1, "docs/ holds no pages"
    for page in pages:
        for link in _links(page.read_text()):
            if re.match(r"[a-z]+://", link):
                continue
            path, _, anchor = link.partition("#")
            target = (page.parent / path).resolve() if path else page
            assert target.exists(), f"{page.name} links to missing {link}"
            if anchor and target.suffix == ".md":
                anchors = {_anchor(h) for h in re.findall(r"^#+ (.*)$", target.read_text(), flags=re.M)}
                assert anchor in anchors, f"{page.name} links to missing anchor {link}"
