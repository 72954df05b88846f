"""Behaviour of the knowledge-file importers: each format, bad rows as problems, bad files as errors."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from frontdesk.knowledge.importers import ImportFormatError, ParsedImport, import_units, parse
from frontdesk.knowledge.schemas import Availability, EntryKind

SHOPIFY_COLUMNS = [
    "Handle", "Title", "Body (HTML)", "Vendor", "Type", "Tags", "Published", "Option1 Name", "Option1 Value",
    "Variant SKU", "Variant Inventory Tracker", "Variant Inventory Qty", "Variant Inventory Policy", "Variant Price",
    "Image Src", "Status",
]  # fmt: skip


def write(path: Path, content: str | bytes) -> Path:
    """Write a fixture file (text as UTF-8), creating its folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return path


def shopify_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    """A Shopify products export with the real column set; cells not given are empty."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=SHOPIFY_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return write(path, out.getvalue())


def problem_lines(result: ParsedImport) -> list[tuple[str, int | None]]:
    return [(p.file, p.line) for p in result.problems]


# --- folders of Markdown and HTML pages ---------------------------------------------------------------------


def test_folder_imports_every_markdown_and_html_page_recursively_sorted_by_path(tmp_path: Path) -> None:
    write(tmp_path / "b.md", "# Returns\n\nYou can return items within 30 days.\n")
    write(tmp_path / "a" / "shipping.markdown", "We ship worldwide.\n")
    write(tmp_path / "a" / "about.htm", "<title>About us</title><p>Family shop since 1990.</p>")
    write(tmp_path / "notes.txt", "not imported")
    write(tmp_path / ".git" / "readme.md", "hidden folders are not part of the knowledge")

    result = parse(tmp_path)

    assert [(r.file, r.line) for r in result.rows] == [("a/about.htm", 1), ("a/shipping.markdown", 1), ("b.md", 1)]
    assert all(r.entry.kind is EntryKind.article for r in result.rows)
    assert [r.entry.title for r in result.rows] == ["About us", "Shipping", "Returns"]
    assert result.problems == []


def test_front_matter_title_url_and_ref_are_used_and_body_is_the_markdown_after_it(tmp_path: Path) -> None:
    front_matter = "---\ntitle: Our returns policy\nurl: /pages/returns\nid: 42\n---\n"
    write(tmp_path / "returns.md", front_matter + "# Returns\n\n*30 days*\n")

    entry = parse(tmp_path).rows[0].entry

    assert entry.title == "Our returns policy"
    assert entry.url == "/pages/returns"
    assert entry.ref == "42"
    assert entry.body == "# Returns\n\n*30 days*"


def test_markdown_title_falls_back_to_first_heading_then_to_the_file_name(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "```\n# not a heading, code\n```\nIntro\n\n# Gift cards\n\nThey never expire.\n")
    write(tmp_path / "opening-hours_2024.md", "Mon-Fri 9-17.\n")

    titles = [r.entry.title for r in parse(tmp_path).rows]

    assert titles == ["Gift cards", "Opening hours 2024"]


def test_malformed_front_matter_is_a_problem_with_its_line_and_other_files_are_kept(tmp_path: Path) -> None:
    write(tmp_path / "bad.md", "---\ntitle: ok\nurl: [unclosed\n---\nBody\n")
    write(tmp_path / "good.md", "Fine page.\n")

    result = parse(tmp_path)

    assert [r.file for r in result.rows] == ["good.md"]
    [problem] = result.problems
    assert problem.file == "bad.md"
    assert problem.line is not None and problem.line >= 3
    assert "front matter" in problem.reason


def test_markdown_with_only_front_matter_is_reported_as_having_no_text(tmp_path: Path) -> None:
    write(tmp_path / "empty-body.md", "---\ntitle: Nothing here\n---\n\n")
    write(tmp_path / "ok.md", "Text.")

    result = parse(tmp_path)

    assert [(p.file, p.reason) for p in result.problems] == [("empty-body.md", "no text")]


def test_scripts_in_markdown_are_kept_as_text(tmp_path: Path) -> None:
    write(tmp_path / "page.md", "Hello <script>alert(1)</script>\n")

    assert parse(tmp_path).rows[0].entry.body == "Hello <script>alert(1)</script>"


def test_folder_without_pages_is_a_format_error(tmp_path: Path) -> None:
    write(tmp_path / "readme.txt", "nothing to import")

    with pytest.raises(ImportFormatError, match=r"no \.md"):
        parse(tmp_path)


def test_non_utf8_page_in_a_folder_is_a_problem_and_the_rest_go_on(tmp_path: Path) -> None:
    write(tmp_path / "latin.md", "Caf\xe9 opening hours\n".encode("latin-1"))
    write(tmp_path / "ok.md", "Fine.")

    result = parse(tmp_path)

    assert [r.file for r in result.rows] == ["ok.md"]
    [problem] = result.problems
    assert problem.file == "latin.md"
    assert "not UTF-8" in problem.reason and "0xe9" in problem.reason


# --- HTML pages -----------------------------------------------------------------------------------------------


def test_html_page_keeps_visible_main_text_and_drops_scripts_styles_and_navigation(tmp_path: Path) -> None:
    page = """<!doctype html><html><head>
      <title>Shipping &amp; delivery</title>
      <link rel="canonical" href="https://shop.example/pages/shipping">
      <style>body { color: red }</style><script>var secret = "SCRIPT-TEXT";</script>
    </head><body>
      <header>Logo</header><nav><a href="/">Home</a></nav>
      <main>
        <h1>Shipping</h1>
        <p>We   ship
           in 2&nbsp;days &lt;usually&gt;.</p>
        <script>document.write("SCRIPT-TEXT")</script><noscript>Enable JS</noscript>
        <ul><li>EU: free</li><li>US: 5&euro;</li></ul>
        <template><p>hidden template</p></template><svg><text>icon</text></svg>
      </main>
      <footer>Copyright</footer>
    </body></html>"""
    write(tmp_path / "shipping.html", page)

    entry = parse(tmp_path).rows[0].entry

    assert entry.title == "Shipping & delivery"
    assert entry.url == "https://shop.example/pages/shipping"
    assert entry.body == "Shipping\nWe ship in 2 days <usually>.\nEU: free\nUS: 5€"
    for hidden in ("SCRIPT-TEXT", "color", "Logo", "Home", "Copyright", "Enable JS", "template", "icon"):
        assert hidden not in entry.body


def test_html_without_main_uses_article_or_body_and_title_falls_back_to_first_h1(tmp_path: Path) -> None:
    write(tmp_path / "a.html", "<aside>Side</aside><article><h1>Care <b>guide</b></h1><p>Wash cold.</p></article>")
    write(tmp_path / "b.html", "<body><h1>Sizes</h1><p>S, M, L</p><script>evil()</script></body>")

    a, b = (r.entry for r in parse(tmp_path).rows)

    assert (a.title, a.body) == ("Care guide", "Care guide\nWash cold.")
    assert (b.title, b.body) == ("Sizes", "Sizes\nS, M, L")


def test_page_missing_its_closing_head_tag_still_has_a_body(tmp_path: Path) -> None:
    write(tmp_path / "a.html", "<html><head><title>Hours</title><meta charset=utf-8><p>Open 9-17.</p>")

    entry = parse(tmp_path).rows[0].entry

    assert (entry.title, entry.body) == ("Hours", "Open 9-17.")


def test_unclosed_script_never_reaches_the_body(tmp_path: Path) -> None:
    write(tmp_path / "a.html", "<p>Visible</p><script>steal(document.cookie)")

    entry = parse(tmp_path).rows[0].entry

    assert entry.body == "Visible"


# --- FAQ CSV -------------------------------------------------------------------------------------------------


def test_faq_csv_rows_become_faq_entries_with_alternates_url_and_ref(tmp_path: Path) -> None:
    path = write(
        tmp_path / "faq.csv",
        " Question ,ANSWER,alternates,url,id\n"
        "Do you ship abroad?,Yes to the EU.,ship international | ship to France|,/pages/shipping,ship-1\n"
        "Can I pay by card?,Yes.,,,\n",
    )

    result = parse(path)

    assert result.problems == []
    first, second = result.rows
    assert (first.file, first.line, second.line) == ("faq.csv", 2, 3)
    assert first.entry.kind is EntryKind.faq
    assert first.entry.title == "Do you ship abroad?"
    assert first.entry.body == "Yes to the EU."
    assert first.entry.alternates == ["ship international", "ship to France"]
    assert (first.entry.url, first.entry.ref) == ("/pages/shipping", "ship-1")
    assert (second.entry.alternates, second.entry.url, second.entry.ref) == ([], None, None)


def test_semicolon_separated_faq_csv_from_a_spreadsheet_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv", "question;answer\nOpen on Sunday?;No, sorry.\n")

    assert parse(path).rows[0].entry.body == "No, sorry."


def test_bad_faq_row_is_reported_with_its_line_and_others_are_kept(tmp_path: Path) -> None:
    path = write(
        tmp_path / "faq.csv",
        "question,answer,url\n"
        "Good?,Yes.,\n"
        ",An answer without question,\n"
        "\n"
        "A question without answer,,\n"
        "Bad url?,Yes.,ftp://x\n"
        "Also good?,Yes.,\n",
    )

    result = parse(path)

    assert [r.line for r in result.rows] == [2, 7]
    assert [(p.file, p.line, p.reason) for p in result.problems[:2]] == [
        ("faq.csv", 3, "empty question"),
        ("faq.csv", 5, "empty answer"),
    ]
    assert result.problems[2].line == 6
    assert result.problems[2].reason.startswith("url: url must start with")


def test_multiline_quoted_cell_keeps_correct_line_numbers_of_later_rows(tmp_path: Path) -> None:
    path = write(
        tmp_path / "faq.csv",
        'question,answer\r\nReturns?,"Line one\r\nline two\r\n\r\nline four"\r\nExchanges?,Yes.\r\n,orphan\r\n',
    )

    result = parse(path)

    assert [r.line for r in result.rows] == [2, 6]
    assert result.rows[0].entry.body == "Line one\r\nline two\r\n\r\nline four"
    assert problem_lines(result) == [("faq.csv", 7)]


def test_html_in_faq_answers_is_stored_as_text(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv", 'question,answer\nXSS?,"<script>alert(1)</script> <b>no</b>"\n')

    assert parse(path).rows[0].entry.body == "<script>alert(1)</script> <b>no</b>"


def test_answer_over_the_size_limit_is_a_problem_not_an_error(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv", f"question,answer\nHuge?,{'x' * 120_000}\nSmall?,Yes.\n")

    result = parse(path)

    assert [r.line for r in result.rows] == [3]
    [problem] = result.problems
    assert (problem.line, problem.reason) == (2, "answer: String should have at most 100000 characters")


def test_unknown_csv_header_is_an_error_listing_the_expected_columns(tmp_path: Path) -> None:
    path = write(tmp_path / "contacts.csv", "name,email\nAnn,ann@example.com\n")

    with pytest.raises(ImportFormatError) as caught:
        parse(path)

    message = str(caught.value)
    assert message.startswith("contacts.csv: ")
    assert "name, email" in message
    assert "question, answer" in message and "Handle, Title, Variant Price" in message


# --- encodings and empty files ----------------------------------------------------------------------------------


def test_latin1_file_is_rejected_with_a_clear_error_naming_the_file(tmp_path: Path) -> None:
    path = write(tmp_path / "faq.csv", "question,answer\nOpen?,Yes\nCaf\xe9?,Yes\n".encode("latin-1"))

    with pytest.raises(ImportFormatError) as caught:
        parse(path)

    assert str(caught.value) == "faq.csv: not UTF-8 text (invalid byte 0xe9 at line 3); save the file as UTF-8"


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16", "utf-16-be"])
def test_utf8_with_bom_and_utf16_with_bom_are_accepted(tmp_path: Path, encoding: str) -> None:
    text = "question,answer\nCafé open?,Oui ☕\n"
    data = text.encode(encoding)
    if encoding == "utf-16-be":
        data = b"\xfe\xff" + data
    path = write(tmp_path / "faq.csv", data)

    [row] = parse(path).rows

    assert (row.entry.title, row.entry.body, row.line) == ("Café open?", "Oui ☕", 2)


@pytest.mark.parametrize("name", ["faq.csv", "entries.jsonl", "sitemap.xml"])
def test_empty_file_is_a_format_error(tmp_path: Path, name: str) -> None:
    path = write(tmp_path / name, "\ufeff \n\n")

    with pytest.raises(ImportFormatError, match=f"^{name} is empty$"):
        parse(path)


def test_unknown_extension_and_missing_path_are_format_errors(tmp_path: Path) -> None:
    with pytest.raises(ImportFormatError, match=r"unknown file type '\.pdf'"):
        parse(write(tmp_path / "catalog.pdf", "%PDF"))
    with pytest.raises(ImportFormatError, match="no such file or folder"):
        parse(tmp_path / "missing.csv")


# --- Shopify products export -----------------------------------------------------------------------------------


def test_shopify_variants_on_following_rows_are_merged_into_one_product(tmp_path: Path) -> None:
    stock = {"Variant Inventory Tracker": "shopify", "Variant Inventory Policy": "deny"}
    listed = {"Published": "TRUE", "Status": "active"}
    shirt_details = {"Vendor": "Acme", "Type": "Shirts", "Tags": "linen, summer", **listed}
    path = shopify_csv(
        tmp_path / "products_export.csv",
        [
            {"Handle": "linen-shirt", "Title": "Linen shirt", **shirt_details, **stock}
            | {"Body (HTML)": "<p>Soft &amp; breathable.</p><script>x()</script>"}
            | {"Option1 Value": "S", "Variant Inventory Qty": "0", "Variant Price": "49.00"},
            {"Handle": "linen-shirt", "Option1 Value": "M", "Variant Inventory Qty": "3", **stock}
            | {"Variant Price": "45.50"},
            {"Handle": "linen-shirt", "Image Src": "https://cdn.example/2.jpg"},
            {"Handle": "mug", "Title": "Mug", **listed, **stock}
            | {"Variant Inventory Qty": "0", "Variant Price": "12"},
        ],
    )

    result = parse(path)

    assert result.problems == []
    shirt, mug = result.rows
    assert (shirt.line, mug.line) == (2, 5)
    assert shirt.entry.kind is EntryKind.product
    assert (shirt.entry.ref, shirt.entry.url) == ("linen-shirt", "/products/linen-shirt")
    assert shirt.entry.title == "Linen shirt"
    assert shirt.entry.price == Decimal("45.50")
    assert shirt.entry.availability is Availability.in_stock
    assert shirt.entry.body == "Soft & breathable.\nType: Shirts; Vendor: Acme; Tags: linen, summer"
    assert mug.entry.availability is Availability.out_of_stock


def test_shopify_variant_that_can_be_oversold_or_has_no_quantity_is_in_stock(tmp_path: Path) -> None:
    common = {"Published": "TRUE", "Status": "active", "Variant Inventory Tracker": "shopify", "Variant Price": "5"}
    path = shopify_csv(
        tmp_path / "p.csv",
        [
            {**common, "Handle": "oversold", "Title": "A", "Variant Inventory Qty": "0"}
            | {"Variant Inventory Policy": "continue"},
            {**common, "Handle": "untracked", "Title": "B", "Variant Inventory Qty": ""},
        ],
    )  # fmt: skip

    assert [r.entry.availability for r in parse(path).rows] == [Availability.in_stock, Availability.in_stock]


def test_shopify_draft_and_archived_products_are_skipped_with_a_reason(tmp_path: Path) -> None:
    path = shopify_csv(
        tmp_path / "products.csv",
        [
            {"Handle": "old-hat", "Title": "Old hat", "Variant Price": "10", "Status": "archived"},
            {"Handle": "new-hat", "Title": "New hat", "Variant Price": "20", "Status": "draft"},
            {"Handle": "new-hat", "Option1 Value": "L", "Variant Price": "22"},
            {"Handle": "cap", "Title": "Cap", "Variant Price": "8", "Status": "active"},
        ],
    )

    result = parse(path)

    assert [r.entry.ref for r in result.rows] == ["cap"]
    assert [(p.line, p.reason) for p in result.problems] == [
        (2, "product 'old-hat' is archived, not published"),
        (3, "product 'new-hat' is draft, not published"),
    ]


def test_shopify_product_with_a_bad_price_is_skipped_with_the_variant_line(tmp_path: Path) -> None:
    path = shopify_csv(
        tmp_path / "products.csv",
        [
            {"Handle": "hat", "Title": "Hat", "Variant Price": "10", "Status": "active"},
            {"Handle": "hat", "Option1 Value": "L", "Variant Price": "ten"},
        ],
    )

    [problem] = parse(path).problems

    assert (problem.line, problem.reason) == (3, "product 'hat': Variant Price 'ten' is not a number")


# --- JSONL ---------------------------------------------------------------------------------------------------


def test_jsonl_in_our_own_shape_imports_every_kind(tmp_path: Path) -> None:
    lines = [
        {"kind": "product", "title": "Mug", "body": "Stoneware.", "price": 12.99, "availability": "preorder"}
        | {"ref": "m1"},
        {"kind": "faq", "title": "Open?", "body": "Yes.", "alternates": ["Opening hours?"], "url": "/faq"},
        {"kind": "article", "title": "About", "body": "Since 1990."},
    ]
    path = write(tmp_path / "entries.jsonl", "\n".join(json.dumps(line) for line in lines) + "\n")

    result = parse(path)

    assert result.problems == []
    mug, faq, article = (r.entry for r in result.rows)
    assert (mug.price, mug.availability, mug.ref) == (Decimal("12.99"), Availability.preorder, "m1")
    assert faq.alternates == ["Opening hours?"]
    assert article.kind is EntryKind.article


def test_eval_shape_jsonl_uses_the_title_as_body_when_the_answer_is_empty(tmp_path: Path) -> None:
    line = {"id": "q-7", "title": "Return window", "questions": ["Return window", "How long to return?"], "answer": ""}
    path = write(tmp_path / "eval.jsonl", json.dumps(line) + "\n")

    [row] = parse(path).rows

    assert row.entry.kind is EntryKind.faq
    assert (row.entry.ref, row.entry.title, row.entry.body) == ("q-7", "Return window", "Return window")
    assert row.entry.alternates == ["How long to return?"]


def test_malformed_jsonl_line_is_reported_with_its_line_number(tmp_path: Path) -> None:
    path = write(
        tmp_path / "entries.jsonl",
        '{"kind": "faq", "title": "Open?", "body": "Yes."}\n'
        "\n"
        '{"kind": "faq" "title": "x"}\n'
        '{"kind": "faq", "body": "No title"}\n'
        "[1, 2]\n"
        '{"kind": "article", "title": "Ok", "body": "Fine."}\n',
    )

    result = parse(path)

    assert [r.line for r in result.rows] == [1, 6]
    assert [(p.line, p.reason) for p in result.problems] == [
        (3, "invalid JSON: Expecting ',' delimiter at column 16"),
        (4, "title: Field required"),
        (5, "invalid JSON: each line must be one JSON object, {...}"),
    ]


def test_jsonl_file_with_no_json_line_at_all_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path / "entries.jsonl", '[\n  {"kind": "faq",\n   "title": "x"}\n]\n')

    with pytest.raises(ImportFormatError, match=r"^entries\.jsonl:1: not JSON Lines"):
        parse(path)


# --- sitemaps ----------------------------------------------------------------------------------------------


def test_sitemap_imports_saved_pages_and_reports_missing_ones_with_their_line(tmp_path: Path) -> None:
    sitemap = write(
        tmp_path / "sitemap.xml",
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'
        ' xmlns:image="http://www.google.com/schemas/sitemap-image/1.1">\n'
        "  <url><loc>https://shop.example/</loc></url>\n"
        "  <url><loc>https://shop.example/pages/faq</loc>"
        "<image:image><image:loc>https://cdn.example/faq.jpg</image:loc></image:image></url>\n"
        "  <url><loc>https://shop.example/blogs/news</loc></url>\n"
        "  <url>\n    <loc>https://shop.example/pages/gone</loc>\n  </url>\n"
        "</urlset>\n",
    )
    write(tmp_path / "index.html", "<title>Home</title><p>Welcome.</p>")
    write(tmp_path / "pages" / "faq.html", "<h1>FAQ</h1><p>Ask us.</p>")
    write(tmp_path / "blogs" / "news" / "index.html", "<title>News</title><p>New mugs.</p>")

    result = parse(sitemap)

    assert [(r.file, r.entry.title, r.entry.url) for r in result.rows] == [
        ("index.html", "Home", "https://shop.example/"),
        ("pages/faq.html", "FAQ", "https://shop.example/pages/faq"),
        ("blogs/news/index.html", "News", "https://shop.example/blogs/news"),
    ]
    assert [(p.file, p.line, p.reason) for p in result.problems] == [
        ("sitemap.xml", 7, "no saved page for https://shop.example/pages/gone"),
    ]


def test_sitemap_url_cannot_reach_files_outside_the_sitemap_folder(tmp_path: Path) -> None:
    write(tmp_path / "secret.html", "<p>private</p>")
    sitemap = write(
        tmp_path / "site" / "sitemap.xml", "<urlset><url><loc>https://x.example/%2E%2E/secret</loc></url></urlset>"
    )

    result = parse(sitemap)

    assert result.rows == []
    assert result.problems[0].reason == "no saved page for https://x.example/%2E%2E/secret"


def test_malformed_sitemap_is_a_format_error_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path / "sitemap.xml", "<urlset>\n<url><loc>https://x.example/</loc>\n</urlset>\n")

    with pytest.raises(ImportFormatError, match=r"^sitemap\.xml:3: not valid XML"):
        parse(path)


def test_xml_that_is_not_a_urlset_is_a_format_error(tmp_path: Path) -> None:
    path = write(tmp_path / "feed.xml", "<rss><channel/></rss>")

    with pytest.raises(ImportFormatError, match="expected <urlset>"):
        parse(path)


# --- progress --------------------------------------------------------------------------------------------------


def _progress_fixture(tmp_path: Path, kind: str) -> Path:
    if kind == "folder":
        write(tmp_path / "pages" / "a.md", "A")
        write(tmp_path / "pages" / "b" / "c.html", "<p>C</p>")
        write(tmp_path / "pages" / "d.md", "---\ntitle: [bad\n---\nD")
        return tmp_path / "pages"
    if kind == "csv":
        return write(tmp_path / "faq.csv", 'question,answer\nA?,"multi\nline"\n,bad\n\nB?,b\n\n\n')
    if kind == "jsonl":
        return write(tmp_path / "e.jsonl", '{"kind":"faq","title":"a","body":"b"}\n\nnot json\n{"kind":"x"}\n')
    write(tmp_path / "index.html", "<p>home</p>")
    return write(
        tmp_path / "sitemap.xml",
        "<urlset><url><loc>https://x.example/</loc></url><url><loc>https://x.example/nope</loc></url></urlset>",
    )


@pytest.mark.parametrize("kind", ["folder", "csv", "jsonl", "sitemap"])
def test_progress_callback_sums_to_import_units(tmp_path: Path, kind: str) -> None:
    path = _progress_fixture(tmp_path, kind)
    steps: list[int] = []

    parse(path, steps.append)

    assert import_units(path) > 0
    assert all(step > 0 for step in steps)
    assert sum(steps) == import_units(path)


# --- robustness ---------------------------------------------------------------------------------------------------

PREFIXES = [b"", b"question,answer\n", b"Handle,Title,Variant Price,Status\n", b'{"kind": "faq", "title": "t"']
ANY_INPUT = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=300).map(str.encode),
    st.tuples(st.sampled_from(PREFIXES), st.text(max_size=200)).map(lambda t: t[0] + t[1].encode()),
    st.tuples(st.sampled_from(PREFIXES), st.binary(max_size=200)).map(lambda t: t[0] + t[1]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=ANY_INPUT, suffix=st.sampled_from([".csv", ".jsonl"]))
def test_parse_of_arbitrary_bytes_returns_or_raises_import_format_error_only(
    tmp_path: Path, data: bytes, suffix: str
) -> None:
    path = write(tmp_path / f"input{suffix}", data)
    steps: list[int] = []

    try:
        result = parse(path, steps.append)
    except ImportFormatError as exc:
        assert path.name in str(exc)
        return

    assert sum(steps) == import_units(path)
    assert all(p.file == path.name and p.line is not None and p.reason for p in result.problems)
