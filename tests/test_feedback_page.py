"""The feedback pages' exporter (autograder/grading/feedback_page.py) gives images the alt
text nbconvert's HTMLExporter gives them, without re-parsing the page: the page it writes
is nbconvert's up to how BeautifulSoup writes HTML back."""
import pytest
from bs4 import BeautifulSoup

from autograder.grading.feedback_page import MISSING_ALT_TEXT, with_alt_text

PAGES = {
    "output image": '<div class="output_png">\n<img src="data:image/png;base64,iVBO">\n</div>',
    "xhtml style": '<p>a plot: <img src="data:image/png;base64,AAAA" /> and text</p>',
    "described": '<img alt="loss curve" src="data:image/png;base64,AAAA">',
    "empty alt": '<img src="x.png" alt="">',
    "upper case": '<IMG SRC="data:image/gif;base64,R0lG"\n     width=3>',
    "no quotes": "<img src=x.png>",
    "several on a line": '<td><img src="a.png"></td><td><img src="b.png" alt="b"><img src="c.png"/></td>',
    "not tags": ('<script>var s = "<img src=y>";</script>\n<!-- <img src="z"> -->\n'
                 '<pre>&lt;img src="w"&gt;</pre><style>img{width:1px}</style>'),
    "after other lines\r\nand a carriage return": 'x\r\ny\n\n<p>\r\n<img\nsrc="late.png"></p>',
}


def nbconverts_pass(page: str) -> str:
    """What nbconvert's HTMLExporter does with a rendered page (nbconvert 7.17)."""
    soup = BeautifulSoup(page, features="html.parser")
    for image in soup.select("img:not([alt])"):
        image.attrs["alt"] = MISSING_ALT_TEXT
    return str(soup)


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_images_get_nbconverts_alt_text_and_nothing_else_changes(page):
    ours = with_alt_text(page)
    assert str(BeautifulSoup(ours, features="html.parser")) == nbconverts_pass(page)
    assert ours.replace(f' alt="{MISSING_ALT_TEXT}"', "") == page
