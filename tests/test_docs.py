"""README.rst and docs/*.rst are valid reStructuredText (setup.cfg's
long_description is README.rst, so PyPI renders it), their links between
each other lead somewhere, and docs/python-api.rst names the whole public API."""
from __future__ import annotations

import re
from pathlib import Path

import docutils.core
import docutils.utils
import pytest

import cpucompat

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
DOCUMENTS = [ROOT / "README.rst", ROOT / "SECURITY.rst", *sorted(DOCS.glob("*.rst"))]
PAGES = ("index.rst", "cli.rst", "inventories.rst", "nova.rst", "placement.rst", "python-api.rst")


def _links(document: Path) -> list[str]:
    """The targets of the document's ```text <target>`__`` links to other files."""
    return re.findall(r"`[^`<]*<([^>`]+)>`__?", document.read_text())


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_document_renders_without_a_warning(document):
    # halt_level 2: a warning (a broken table, an unknown directive, a bad
    # indent) raises instead of rendering as an error box on the page
    docutils.core.publish_string(document.read_text(), source_path=str(document), writer_name="html",
                                 settings_overrides={"halt_level": 2, "report_level": 5})


def test_a_broken_document_is_caught():
    with pytest.raises(docutils.utils.SystemMessage):
        docutils.core.publish_string("Title\n==\n\n* item\ntext\n", writer_name="html",
                                     settings_overrides={"halt_level": 2, "report_level": 5})


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda d: d.relative_to(ROOT).as_posix())
def test_every_link_to_a_file_leads_to_one(document):
    local = [link for link in _links(document) if "://" not in link]
    missing = [link for link in local if not (document.parent / link).is_file()]
    assert not missing


def test_readme_and_the_index_lead_to_every_page():
    assert {p.name for p in DOCS.glob("*.rst")} == set(PAGES)
    assert "docs/index.rst" in _links(ROOT / "README.rst")
    assert set(PAGES) - {"index.rst"} <= set(_links(DOCS / "index.rst"))


def test_the_python_api_page_names_every_public_name():
    text = (DOCS / "python-api.rst").read_text()
    assert not [name for name in cpucompat.__all__ if f"``{name}``" not in text]
