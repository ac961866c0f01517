"""The README and docs/ pages: every relative link resolves to a file of the repository and,
with a ``#fragment``, to a heading of that file (GitHub's anchor rules); no page points
outside the repository."""

import glob
import os
import re

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAGES = sorted([os.path.join(REPO, "README.md")] + glob.glob(os.path.join(REPO, "docs", "**", "*.md"), recursive=True))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")


def anchor(heading: str) -> str:
    """GitHub's anchor of a Markdown heading: lower case, punctuation dropped, spaces to '-'."""
    h = re.sub(r"`", "", heading.strip().lower())
    h = re.sub(r"[^\w\- ]", "", h)
    return h.replace(" ", "-")


def anchors(path: str) -> set[str]:
    out, fenced = set(), False
    with open(path) as f:
        for line in f:
            if line.startswith("```"):
                fenced = not fenced
            m = re.match(r"^#{1,6} (.*)", line)
            if m and not fenced:
                out.add(anchor(m.group(1)))
    return out


def links(path: str):
    with open(path) as f:
        text = f.read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)
    for target in LINK.findall(text):
        if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
            continue
        yield target


def test_anchor_rules():
    assert anchor("7. Extending") == "7-extending"
    assert anchor("Study scale: the paper's three claims on a 2-core CPU") == \
        "study-scale-the-papers-three-claims-on-a-2-core-cpu"
    assert anchor("One GPU: `config/gpu.yaml`") == "one-gpu-configgpuyaml"


def test_pages_found():
    names = {os.path.relpath(p, REPO) for p in PAGES}
    assert "README.md" in names and "docs/design.md" in names, names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, REPO))
def test_links_resolve(page):
    bad = []
    for target in links(page):
        path, _, frag = target.partition("#")
        dest = os.path.normpath(os.path.join(os.path.dirname(page), path)) if path else page
        if not dest.startswith(REPO + os.sep):
            bad.append(f"{target}: outside the repository")
        elif not os.path.exists(dest):
            bad.append(f"{target}: no such file")
        elif frag and dest.endswith(".md") and frag not in anchors(dest):
            bad.append(f"{target}: no heading with anchor #{frag} in {os.path.relpath(dest, REPO)}")
    assert not bad, f"{os.path.relpath(page, REPO)}: broken links:\n  " + "\n  ".join(bad)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: os.path.relpath(p, REPO))
def test_no_paths_outside_the_repository(page):
    with open(page) as f:
        text = f.read()
    assert "../shared" not in text, f"{os.path.relpath(page, REPO)} names a path outside the repository"
