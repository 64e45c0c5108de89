"""The HTML reference `make docs` builds (tests/tools/build-docs-site.sh: antsibull-docs lint, then antsibull-docs
and Sphinx): a page for every module, filter and the role, the playbooks and guides pages, and no link inside the
site that leads nowhere."""

import glob
import html.parser
import os
import subprocess
import urllib.parse

import pytest

from tests.packaging.support import ROOT
from tests.packaging.test_docs import FILTERS

SITE_SCRIPT = os.path.join(ROOT, "tests", "tools", "build-docs-site.sh")
COLLECTION_PAGES = os.path.join("collections", "kubeaccess", "x509")


class _Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.title, self._in_title = [], "", False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag in ("a", "link") and attrs.get("href"):
            self.links.append(attrs["href"])
        if tag == "script" and attrs.get("src"):
            self.links.append(attrs["src"])
        self._in_title = tag == "title"

    def handle_endtag(self, tag):
        self._in_title = False if tag == "title" else self._in_title

    def handle_data(self, data):
        if self._in_title:
            self.title += data


MODULES = sorted(os.path.splitext(os.path.basename(path))[0]
                 for path in glob.glob(os.path.join(ROOT, "plugins", "modules", "*.py"))
                 if not path.endswith("__init__.py"))


@pytest.fixture(scope="module")
def site(packaging_venv, tmp_path_factory):
    out = tmp_path_factory.mktemp("docs-site")
    built = subprocess.run(["bash", SITE_SCRIPT], capture_output=True, text=True, timeout=900, check=False,
                           env=dict(os.environ, KUBEACCESS_DOCS_VENV=packaging_venv, KUBEACCESS_DOCS_OUT=str(out)))
    assert built.returncode == 0, (built.stdout + built.stderr)[-6000:]
    return out / "build" / "html"


def _page(site, relative):
    path = site / relative
    assert path.is_file(), f"no page {relative}"
    parser = _Links()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


@pytest.mark.parametrize("kind", ["module", "filter"])
def test_every_plugin_has_its_page(site, kind):
    names = MODULES if kind == "module" else sorted(FILTERS)
    assert names
    for name in names:
        page = _page(site, os.path.join(COLLECTION_PAGES, f"{name}_{kind}.html"))
        assert f"kubeaccess.x509.{name}" in page.title, page.title


def test_the_role_playbooks_and_guides_have_their_pages(site):
    assert "kubeaccess.x509.user_access" in _page(site, os.path.join(COLLECTION_PAGES, "user_access_role.html")).title
    index = _page(site, os.path.join(COLLECTION_PAGES, "index.html"))
    for extra in ("docsite/playbooks.html", "docsite/guides.html"):
        _page(site, os.path.join(COLLECTION_PAGES, extra))
        assert extra in index.links, f"the collection's index does not link {extra}"


def test_no_link_inside_the_site_leads_nowhere(site):
    broken = []
    for page in site.rglob("*.html"):
        for link in _page(site, page.relative_to(site)).links:
            parsed = urllib.parse.urlparse(link)
            if parsed.scheme or parsed.netloc or not parsed.path:
                continue
            target = (page.parent / urllib.parse.unquote(parsed.path)).resolve()
            if not target.exists():
                broken.append(f"{page.relative_to(site)} -> {link}")
    assert not broken, "\n".join(broken)
