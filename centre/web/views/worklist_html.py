"""The worklist's rows as HTML, each row rendered once for as long as what it shows is the same.

Rendering a page's 100 rows through the template engine took a third of the page's time
(bench/worklist.py), and from one page to the next most rows show the same thing. A row's HTML
depends only on what it shows (a frozen, hashable value) and the nurse's language, but for the
form's CSRF token, which differs per request: rows are kept with a mark where the token goes and
the token is put in when the page is assembled.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from functools import lru_cache

from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import get_template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language

ROW_TEMPLATE = "web/worklist_row.html"
# Where a row's form takes the CSRF token. It holds "<", which escaping turns into "&lt;", so no
# text of a patient's or a nurse's can ever read as the mark: only the template puts it there.
CSRF_MARK = "<!--dho:csrf-->"
ROWS_KEPT = 8192  # rows of several pages, filters and languages; a row is about 2 KB


def rows_html(request: HttpRequest, rows: Sequence[Hashable]) -> SafeString:
    """The rows' HTML, their forms with this request's CSRF token."""
    language = get_language()
    token = format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
    )
    html = "".join(_row_html(language, row) for row in rows)
    return mark_safe(html.replace(CSRF_MARK, token))  # each row escaped by the template


@lru_cache(maxsize=ROWS_KEPT)
def _row_html(language: str | None, row: Hashable) -> str:
    """One row, rendered in `language`, which is the active one (the key keeps languages
    apart)."""
    return get_template(ROW_TEMPLATE).render({"s": row, "csrf_input": mark_safe(CSRF_MARK)})
