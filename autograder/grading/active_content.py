"""Student HTML made inert in the notebooks TAs and students look at.

Formgrader shows OUT/autograded/<student>/<id>/*.ipynb in the TA's browser, logged in to a
server that can change grades, and the feedback pages are rendered from the same notebooks.
nbgrader renders a Markdown cell's HTML as it is (its formgrade and feedback templates skip
nbconvert's `sanitize_html`), so an answer holding `<script>`, `<img onerror=...>`, an
`<iframe>` or a `javascript:` link runs in that browser, and so do the HTML and JavaScript
outputs a student's code displays. NeutraliseActiveContent, the last step of the autograde
pipeline (after the grades are saved), rewrites only what is active, with bleach (the
sanitizer nbconvert itself uses):

- a Markdown or raw cell whose rendered HTML holds anything outside a formatting allowlist
  (tags, attributes, http/https/mailto links, images from data: or attachments, text-align
  as the only style) becomes that HTML cleaned, under a note for the TA: what was removed
  is gone (attributes, links) or shown as text (tags), the answer's words stay. Every
  other cell is left byte for byte, so an answer nobody tampered with keeps its form;
- outputs keep plain text, errors, PNG/JPEG/GIF, JSON and LaTeX; HTML and Markdown only when
  nothing in them is active; SVG becomes an <img> of itself (inert there); every other
  type (JavaScript, widgets, ...) is dropped, and an output left empty says why. Output
  metadata keeps only image sizes (nbconvert writes them into <img> unquoted);
- the notebook's widget state (rendered by a script the page loads) is dropped.

The student's submission is never touched: nbgrader writes the autograded copy. The same
step runs when formgrader and `nbgrader generate_feedback` render OUT (graded_course.py
registers it with nbconvert's HTMLExporter), so notebooks graded before it existed are safe
to open too.
"""
from __future__ import annotations

import base64
import html
import re
from numbers import Number

import bleach
from bleach.css_sanitizer import CSSSanitizer
from bleach.sanitizer import BleachSanitizerFilter
from nbconvert.filters.markdown_mistune import IPythonRenderer, InvalidNotebook, MarkdownWithMath
from nbformat import from_dict
from nbgrader.preprocessors import NbGraderPreprocessor
from traitlets import Set, Unicode

# What Markdown itself renders to (headings with their anchors, tables, highlighted code),
# plus the formatting tags people type by hand.
FORMATTING_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "code", "dd", "del", "details", "div",
    "dl", "dt", "em", "figcaption", "figure", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "img", "ins", "kbd", "li", "mark", "ol", "p", "pre", "s", "samp", "small", "span",
    "strong", "sub", "summary", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr",
    "u", "ul", "var"}
IMAGE_SOURCES = ("data:image/", "attachment:")  # inline images: nothing is fetched
IMAGE_SCHEMES = {"data", "attachment"}
INERT_OUTPUTS = {"text/plain", "image/png", "image/jpeg", "image/gif", "application/json",
                 "text/latex"}
IMAGE_SIZES = ("width", "height")


def _attribute_allowed(tag: str, name: str, value: str) -> bool:
    # bleach then checks every URL's scheme against `protocols` (plus IMAGE_SCHEMES, which
    # only an image may use).
    if name == "class":  # appearance only; Markdown's code highlighting and anchors use it
        return True
    if tag == "a":
        return name == "title" or name == "href" and not _url(value).startswith(
            tuple(f"{scheme}:" for scheme in IMAGE_SCHEMES))
    if tag == "img":
        return (name in ("alt", "title", "width", "height")
                or name == "src" and _url(value).startswith(IMAGE_SOURCES))
    if tag in ("th", "td"):
        return name in ("style", "align", "colspan", "rowspan")
    if tag in ("h1", "h2", "h3", "h4", "h5", "h6"):
        return name == "id"  # Markdown headings' anchors
    return tag == "ol" and name == "start"


def _markdown_html(source: str, attachments: dict | None = None) -> str:
    """The HTML nbconvert's HTMLExporter (formgrader's, the feedback's) makes of Markdown."""
    renderer = IPythonRenderer(escape=False, attachments=attachments or {})
    return MarkdownWithMath(renderer=renderer).render(source)


def _url(value: str) -> str:
    """A URL as a browser reads its scheme (the normalisation bleach applies too)."""
    return re.sub(r"[\x00-\x20\x7f-\xa0\s]+", "", html.unescape(value)).lower()


class _AnyName:
    def __contains__(self, name: str) -> bool:
        return True


class _PassTags(BleachSanitizerFilter):
    """bleach's filter with every tag and attribute let through: text, entities, comments and
    styles are written as when cleaning, so the result differs from a cleaned one only where
    the cleaning removed something."""

    _styles = CSSSanitizer(allowed_css_properties=_AnyName(), allowed_svg_properties=_AnyName())

    def sanitize_token(self, token):
        if token["type"] in ("StartTag", "EndTag", "EmptyTag"):
            if (None, "style") in token.get("data", {}):
                token["data"][None, "style"] = self._styles.sanitize_css(token["data"][None, "style"])
            return token
        return super().sanitize_token(token)


class _Unchanged(bleach.Cleaner):
    def __init__(self):
        super().__init__(tags=None)  # the parser keeps every tag a tag

    def clean(self, text: str) -> str:
        return self.serializer.render(_PassTags(source=self.walker(self.parser.parseFragment(text))))


class NeutraliseActiveContent(NbGraderPreprocessor):
    """Make scripts, event handlers, frames, javascript: links and styles in Markdown cells
    and outputs inert; leave every cell without them as it is."""

    tags = Set(Unicode(), FORMATTING_TAGS,
               help="HTML tags kept in Markdown cells and HTML outputs; others are shown as "
                    "text.").tag(config=True)
    protocols = Set(Unicode(), {"http", "https", "mailto"},
                    help="Link schemes kept (links within the page are always kept).").tag(config=True)
    styles = Set(Unicode(), {"text-align"},
                 help="CSS properties kept in table cells' style (Markdown tables align with "
                      "it); no other element keeps a style.").tag(config=True)
    inert_outputs = Set(Unicode(), INERT_OUTPUTS,
                        help="Output types kept as they are.").tag(config=True)
    checked_outputs = Set(Unicode(), {"text/html", "text/markdown"},
                           help="Output types kept only when nothing in them is active.").tag(config=True)
    note = Unicode(
        "The autograder made this cell inert: the student's HTML held scripts, event handlers, "
        "frames, styles or links it does not show; tags are shown as text, the rest removed.",
        help="Shown above a Markdown or raw cell that was changed.").tag(config=True)
    dropped_note = Unicode(
        "[The autograder removed this output: {types} can run code in the grader's browser.]",
        help="Text of an output whose every type was dropped; {types} lists them.").tag(config=True)

    def preprocess(self, nb, resources):
        self._cleaner = bleach.Cleaner(
            tags=self.tags, attributes=_attribute_allowed,
            protocols=self.protocols | IMAGE_SCHEMES,
            css_sanitizer=CSSSanitizer(allowed_css_properties=self.styles))
        self._unchanged = _Unchanged()
        if nb.metadata.pop("widgets", None) is not None:
            self.log.warning("Removed the notebook's widget state (it renders through a script)")
        return super().preprocess(nb, resources)

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type in ("markdown", "raw"):
            try:
                inert = self._inert(_markdown_html(cell.source, cell.get("attachments"))
                                    if cell.cell_type == "markdown" else cell.source)
            except InvalidNotebook:  # a missing attachment: nbconvert could not show it either
                inert = html.escape(cell.source)
            if inert is not None:
                # One HTML block without blank lines: Markdown passes it on as it is.
                lines = [line for line in inert.splitlines() if line.strip()]
                cell.source = "\n".join([f"<div>\n<p><em>{html.escape(self.note)}</em></p>",
                                         *lines, "</div>"])
                self.log.warning("Cell %d held active HTML: made inert", cell_index)
        elif cell.cell_type == "code":
            for output in cell.get("outputs", []):
                if "data" in output:
                    self._neutralise_output(output, cell_index)
        return cell, resources

    def _inert(self, fragment: str) -> str | None:
        """The cleaned fragment when cleaning removed anything, else None."""
        cleaned = self._cleaner.clean(fragment)
        return None if cleaned == self._unchanged.clean(fragment) else cleaned

    def _neutralise_output(self, output, cell_index: int) -> None:
        data, dropped = output.data, []
        if "image/svg+xml" in data:
            svg = data.pop("image/svg+xml")
            if "text/html" not in data:
                encoded = base64.b64encode(svg.encode()).decode()
                data["text/html"] = f'<img src="data:image/svg+xml;base64,{encoded}">'
        for kind in list(data):
            if kind in self.inert_outputs:
                continue
            if kind in self.checked_outputs:
                shown = _markdown_html(data[kind]) if kind == "text/markdown" else data[kind]
                if self._inert(shown) is None:
                    continue
            dropped.append(kind)
            del data[kind]
        output.metadata = from_dict({
            kind: {size: value for size, value in sizes.items()
                   if size in IMAGE_SIZES and isinstance(value, Number)}
            for kind, sizes in output.get("metadata", {}).items()
            if kind in data and isinstance(sizes, dict)})
        if dropped:
            self.log.warning("Cell %d: removed its %s output", cell_index, ", ".join(dropped))
            if not data:
                data["text/plain"] = self.dropped_note.format(types=", ".join(dropped))
