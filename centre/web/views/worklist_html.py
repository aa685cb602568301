"""The worklist's rows as HTML, each row rendered once for as long as what it shows is the same.

Rendering a page's 100 rows through the template engine took a third of the page's time
(bench/worklist.py), and from one page to the next most rows show the same thing. A row's HTML
depends only on what it shows (a frozen, hashable value) and the nurse's language, but for the
form's CSRF token, which differs per request: rows are kept with a mark where the token goes and
the token is put in when the page is assembled.
"""

from __future__ import annotations

import sys
import threading
from collections import OrderedDict
from collections.abc import Hashable, Sequence

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
KEPT_BYTES = 32 * 1024 * 1024  # the rows kept, at most; the least recently shown go first
ROW_KEPT_MOST = 64 * 1024  # a bigger row (hundreds of findings) is rendered every time


def rows_html(request: HttpRequest, rows: Sequence[Hashable]) -> SafeString:
    """The rows' HTML, their forms with this request's CSRF token."""
    language = get_language()
    token = format_html(
        '<input type="hidden" name="csrfmiddlewaretoken" value="{}">', get_token(request)
    )
    html = "".join(_KEPT.row(language, row) for row in rows)
    return mark_safe(html.replace(CSRF_MARK, token))  # each row escaped by the template


class KeptRows:
    """Rendered rows by (language, row), least recently shown dropped first once they take
    more than `most` bytes of memory, not characters (a string with an emoji in it takes 4
    bytes a character; the rows' values, their keys, take about as much again)."""

    def __init__(self, most: int = KEPT_BYTES) -> None:
        self.most, self.size = most, 0
        self.rows: OrderedDict[tuple[str | None, Hashable], str] = OrderedDict()
        self.lock = threading.Lock()  # waitress serves pages in threads

    def row(self, language: str | None, row: Hashable) -> str:
        key = (language, row)
        with self.lock:
            html = self.rows.get(key)
            if html is not None:
                self.rows.move_to_end(key)
                return html
        # Rendered outside the lock: two pages may render the same row, and keep one.
        html = get_template(ROW_TEMPLATE).render({"s": row, "csrf_input": mark_safe(CSRF_MARK)})
        if sys.getsizeof(html) <= ROW_KEPT_MOST:
            self.keep(key, html)
        return html

    def keep(self, key: tuple[str | None, Hashable], html: str) -> None:
        with self.lock:
            if key in self.rows:
                return
            self.rows[key] = html
            self.size += sys.getsizeof(html)
            while self.size > self.most:
                _, dropped = self.rows.popitem(last=False)
                self.size -= sys.getsizeof(dropped)


_KEPT = KeptRows()
