"""The README, doc/ and bench/README.md point at things that exist: relative links (with
their #anchors), the repository paths and bench/results files they name, and the commits
they cite for removed files (`git show COMMIT:PATH`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

FENCE = re.compile(r"^```.*?^```", re.S | re.M)
CODE_SPAN = re.compile(r"`[^`\n]+`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
TOP_DIRS = ("bench", "config", "doc", "launch", "models", "msg", "nbf_ros", "scripts", "tests")
REPO_PATH = re.compile(rf"`((?:{'|'.join(TOP_DIRS)})/[^`\s]*)`")
GIT_SHOW = re.compile(r"git show\s+([0-9a-f]{7,40}):([^\s`]+)")
COMMIT = re.compile(r"\bcommits?\s+([0-9a-f]{7,40})(?:\s+and\s+([0-9a-f]{7,40}))?\b")


def doc_pages(root: Path) -> list[Path]:
    """The pages the docs check covers."""
    return [root / "README.md", *sorted((root / "doc").glob("*.md")), root / "bench" / "README.md"]


def prose(text: str) -> str:
    """Markdown text without fenced code blocks."""
    return FENCE.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup and punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = text.replace("`", "").strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every heading anchor of a page, duplicates numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    found = set()
    for _, heading in HEADING.findall(prose(text)):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return found


def broken_links(page: Path) -> list[str]:
    """Relative links of ``page`` whose file or #anchor does not exist."""
    text = page.read_text()
    problems = []
    for target in LINK.findall(CODE_SPAN.sub("", prose(text))):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            problems.append(f"{target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
            problems.append(f"{target}: no heading with the anchor #{anchor}")
    return problems


def missing_paths(page: Path, root: Path) -> list[str]:
    """Repository paths the page names in code spans (bench/results/... among them) that do
    not exist, unless the page cites the commit that holds them (`git show COMMIT:PATH`);
    placeholders (<x>, *, {x}), message types and pytest node ids' test names are left out."""
    text = prose(page.read_text())
    removed = {path for _, path in GIT_SHOW.findall(text)}  # named with the commit holding it
    problems = []
    for span in REPO_PATH.findall(text):
        path = span.split("::", 1)[0].rstrip(".,;:)")
        if re.search(r"[<>*{}]", path) or re.fullmatch(r"nbf_ros/[A-Z]\w*", path):
            continue  # a placeholder, or a message type (nbf_ros/HumanPose)
        if path not in removed and not (root / path).exists():
            problems.append(path)
    return problems


def git(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A git command in the checkout."""
    return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)


@pytest.fixture(scope="module")
def history(repo_root: Path) -> Path:
    """The checkout, when its full history is there to look cited commits up in."""
    shallow = git(repo_root, "rev-parse", "--is-shallow-repository")
    if shallow.returncode != 0:
        pytest.skip(f"no git history here: {shallow.stderr.strip()}")
    if shallow.stdout.strip() == "true":
        pytest.skip("a shallow clone: cited commits may be missing")
    return repo_root


class TestTheChecker:
    def test_a_link_to_a_missing_file_is_reported(self, tmp_path: Path) -> None:
        page = tmp_path / "page.md"
        page.write_text("See [the table](results/none.md).\n")
        assert broken_links(page) == ["results/none.md: no such file"]

    def test_a_link_to_a_missing_anchor_is_reported(self, tmp_path: Path) -> None:
        (tmp_path / "other.md").write_text("# Other\n\n## Speed (`nbf-ros bench`)\n")
        page = tmp_path / "page.md"
        page.write_text("[ok](other.md#speed-nbf-ros-bench) [bad](other.md#sped)\n"
                        "[self](#title) [web](https://example.org/x)\n\n# Title\n")
        assert broken_links(page) == ["other.md#sped: no heading with the anchor #sped"]

    def test_links_in_code_are_not_links(self, tmp_path: Path) -> None:
        page = tmp_path / "page.md"
        page.write_text("```\n[a](missing.md)\n```\n`[b](missing.md)`\n")
        assert broken_links(page) == []

    def test_repeated_headings_get_numbered_anchors(self) -> None:
        assert anchors("# A\n## Runs\n## Runs\n") == {"a", "runs", "runs-1"}

    def test_a_named_path_that_does_not_exist_is_reported(self, tmp_path: Path) -> None:
        (tmp_path / "bench" / "results").mkdir(parents=True)
        (tmp_path / "bench" / "results" / "there.md").write_text("x")
        page = tmp_path / "page.md"
        page.write_text("`bench/results/there.md`, `bench/results/gone.md`, "
                        "`bench/results/speed_<device>.md`\n")
        assert missing_paths(page, tmp_path) == ["bench/results/gone.md"]

    def test_a_removed_path_may_be_named_with_the_commit_that_holds_it(
            self, tmp_path: Path) -> None:
        page = tmp_path / "page.md"
        page.write_text("`bench/old.py` was removed: `git show 0123abc:bench/old.py`.\n")
        assert missing_paths(page, tmp_path) == []


@pytest.mark.parametrize("name", ["README.md", "doc", "bench/README.md"])
def test_pages_exist(repo_root: Path, name: str) -> None:
    assert (repo_root / name).exists()


def test_every_relative_link_resolves(repo_root: Path) -> None:
    problems = {str(page.relative_to(repo_root)): broken
                for page in doc_pages(repo_root) if (broken := broken_links(page))}
    assert not problems


def test_every_named_repository_path_exists(repo_root: Path) -> None:
    problems = {str(page.relative_to(repo_root)): missing
                for page in doc_pages(repo_root) if (missing := missing_paths(page, repo_root))}
    assert not problems


def test_the_readme_results_table_links_a_results_file_per_row(repo_root: Path) -> None:
    text = (repo_root / "README.md").read_text()
    table = text.split("## Results", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in table.splitlines() if line.startswith("| ") and "---" not in line]
    assert len(rows) > 1
    for row in rows[1:]:
        assert LINK.search(row.rsplit("|", 2)[1]), f"no results file linked: {row}"


def test_every_cited_removed_file_is_in_its_commit(history: Path) -> None:
    cited = {(commit, path) for page in doc_pages(history)
             for commit, path in GIT_SHOW.findall(page.read_text())}
    assert cited, "the docs cite no removed file (doc/studies.md names them)"
    missing = [f"{commit}:{path}" for commit, path in sorted(cited)
               if git(history, "cat-file", "-e", f"{commit}:{path}").returncode != 0]
    assert not missing


def test_every_cited_commit_exists(history: Path) -> None:
    cited = {commit for page in doc_pages(history)
             for pair in COMMIT.findall(page.read_text()) for commit in pair if commit}
    missing = sorted(c for c in cited
                     if git(history, "cat-file", "-e", f"{c}^{{commit}}").returncode != 0)
    assert not missing
