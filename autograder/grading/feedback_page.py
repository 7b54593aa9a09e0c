"""The exporter of feedback pages: nbconvert's HTMLExporter without its costly last pass.

nbgrader renders feedback with nbconvert's HTMLExporter, which ends by parsing the whole
rendered page again with BeautifulSoup to give every image without alt text the text
"No description has been provided for this image" (and a tabindex to the cells of
JupyterLab's template, whose classes nbgrader's feedback template does not use), then
writes the page back out of that tree. For a submission's four pages of 200-400 KB, most
of it highlighted code, that pass costs about 0.8 s of CPU: more than half of the feedback
step and more than rendering the pages. FeedbackPageExporter renders the same pages and
adds the same alt text where the standard library's HTML parser finds an <img> without
one, leaving the rest of the page as the template wrote it (equal to nbconvert's page up
to how BeautifulSoup writes HTML back, which a test checks).

nbgrader_config.py and graded_course.py make it GenerateFeedback's exporter_class.
"""
from __future__ import annotations

import re
from html.parser import HTMLParser

from nbconvert.exporters import HTMLExporter, TemplateExporter
from nbconvert.filters.highlight import Highlight2HTML
from nbconvert.filters.widgetsdatatypefilter import WidgetsDataTypeFilter

# nbconvert's own words for an image nobody described.
MISSING_ALT_TEXT = "No description has been provided for this image"


class FeedbackPageExporter(HTMLExporter):
    """HTMLExporter, with images given their alt text by a scan instead of a rewrite."""

    def from_notebook_node(self, nb, resources=None, **kw):
        # The filters HTMLExporter registers for each notebook: its language's highlighting
        # (unless configured otherwise) and the choice of output types to show.
        language = nb.metadata.get("language_info", {})
        self.register_filter("highlight_code", self.filters.get(
            "highlight_code", Highlight2HTML(
                pygments_lexer=language.get("pygments_lexer", language.get("name")), parent=self)))
        resources = self._init_resources(resources)
        self.register_filter("filter_data_type", WidgetsDataTypeFilter(
            notebook_metadata=self._nb_metadata, parent=self, resources=resources))
        page, resources = TemplateExporter.from_notebook_node(self, nb, resources, **kw)
        return with_alt_text(page, self.log), resources


class _ImagesWithoutAlt(HTMLParser):
    """Where an alt attribute goes in each <img> tag that has none: the offset just after
    the tag's last attribute."""

    def __init__(self, page: str):
        super().__init__(convert_charrefs=False)
        # getpos() counts lines by "\n" alone
        self._line_starts = [0, *(newline.end() for newline in re.finditer("\n", page))]
        self.offsets = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self._note(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._note(tag, attrs)

    def _note(self, tag, attrs):
        if tag == "img" and all(name != "alt" for name, _ in attrs):
            line, column = self.getpos()
            attributes = self.get_starttag_text().removesuffix(">").removesuffix("/").rstrip()
            self.offsets.append(self._line_starts[line - 1] + column + len(attributes))


def with_alt_text(page: str, log=None) -> str:
    """The page with alt text given to every image that has none, as nbconvert does."""
    offsets = _ImagesWithoutAlt(page).offsets
    if not offsets:
        return page
    if log is not None:
        log.warning("Alternative text is missing on %s image(s).", len(offsets))
    pieces = [page[start:end] for start, end in zip([0, *offsets], [*offsets, len(page)])]
    return f' alt="{MISSING_ALT_TEXT}"'.join(pieces)
