"""Method references resolve inside the repository: every ``docs/method.md §N[.M]`` names a heading of that page.

The docstrings cite the method notes by section; the notes used to live outside the repository, where users of the
package could not follow them. These checks keep the citations pointing at ``docs/method.md``, at sections it has.
"""

import os
import re
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
METHOD_PAGE = "docs/method.md"
#: the notes' old, out-of-repository file name (written as a pattern so that this file does not cite it)
OLD_NOTES = re.compile(r"asmg-method\.md")
#: "docs/method.md" followed by one or more sections: "§3", "§3.2, §3.7", "§3.2-§3.3", "§1.3 and §1.1"
CITATION = re.compile(r"docs/method\.md((?:(?:\s*(?:,|-|–|and)\s*|\s+)§\d+(?:\.\d+)?)+)")
SECTION = re.compile(r"§(\d+(?:\.\d+)?)")
HEADING = re.compile(r"^#{1,6} .*$", re.MULTILINE)


def _source_files() -> list[str]:
    """Repository-relative paths of the checked files: *.py, README.md and docs/*.md (not docs/results/)."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.split("\n")
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout: the tracked files cannot be listed")
    return sorted(
        path
        for path in listed
        if os.path.isfile(os.path.join(ROOT, path))
        and not path.startswith("docs/results/")
        and (path.endswith(".py") or path == "README.md" or (path.startswith("docs/") and path.endswith(".md")))
    )


def _read(path: str) -> str:
    with open(os.path.join(ROOT, path), encoding="utf-8") as f:
        return f.read()


def _citations() -> list[tuple[str, int, str]]:
    """(file, line, section) of every ``docs/method.md §...`` citation in the checked files."""
    found = []
    for path in _source_files():
        for number, line in enumerate(_read(path).splitlines(), 1):
            for match in CITATION.finditer(line):
                found.extend((path, number, section) for section in SECTION.findall(match.group(1)))
    return found


def _headed_sections() -> set[str]:
    """The section numbers (``"3"``, ``"3.3"``) that a heading of docs/method.md carries."""
    return {section for heading in HEADING.findall(_read(METHOD_PAGE)) for section in SECTION.findall(heading)}


def test_no_source_cites_the_out_of_repository_notes():
    offenders = [
        f"{path}:{number}"
        for path in _source_files()
        for number, line in enumerate(_read(path).splitlines(), 1)
        if OLD_NOTES.search(line)
    ]
    assert not offenders, f"cite {METHOD_PAGE} §N instead of the old notes: {offenders}"


def test_every_method_citation_names_a_heading_of_the_method_page():
    citations = _citations()
    # the package cites the page throughout: far fewer citations means the pattern above stopped matching them
    assert len(citations) >= 30, citations
    headed = _headed_sections()
    missing = [f"{path}:{number} §{section}" for path, number, section in citations if section not in headed]
    assert not missing, f"no heading of {METHOD_PAGE} carries these sections: {missing}"


def test_the_citation_pattern_reads_every_form_the_sources_use():
    line = (
        "(docs/method.md §3.2, §3.7) (docs/method.md §3.2-§3.3) (docs/method.md §1.3 and §1.1) docs/method.md §8.4 #10"
    )
    sections = [s for m in CITATION.finditer(line) for s in SECTION.findall(m.group(1))]
    assert sections == ["3.2", "3.7", "3.2", "3.3", "1.3", "1.1", "8.4"]
