"""Read a store's knowledge files (page folders, FAQ or Shopify CSV, JSONL, sitemaps) into entries to import.

Parsing never writes anything: it returns the entries it could read and, for each row it had to skip, a
problem the store owner can act on. Only an input that is unusable as a whole raises ImportFormatError.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
import re
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from html.parser import HTMLParser
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import quote, unquote, urlsplit
from xml.parsers import expat

import yaml
from pydantic import ValidationError

from frontdesk.knowledge.schemas import Availability, EntryIn, EntryKind, ImportProblem

__all__ = ["ImportFormatError", "ParsedImport", "ParsedRow", "import_units", "parse", "unpack_zip"]

MARKDOWN_SUFFIXES = frozenset({".md", ".markdown"})
HTML_SUFFIXES = frozenset({".html", ".htm"})
PAGE_SUFFIXES = MARKDOWN_SUFFIXES | HTML_SUFFIXES
# Elements whose content a visitor does not read as the page's text (or must never be stored, like scripts).
# Elements that may appear in <head>; any other element starts the body, as browsers do when </head> is missing.
HEAD_ELEMENTS = frozenset({"head", "title", "meta", "link", "base", "script", "style", "noscript", "template"})
HIDDEN_ELEMENTS = frozenset({"script", "style", "noscript", "nav", "header", "footer", "template", "svg"})
BLOCK_ELEMENTS = frozenset(
    {
        "address", "article", "aside", "blockquote", "body", "br", "caption", "dd", "details", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "form", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "html", "legend", "li",
        "main", "ol", "p", "pre", "section", "summary", "table", "tbody", "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
CELL_ELEMENTS = frozenset({"td", "th"})
CSV_DELIMITERS = (",", ";", "\t")  # Excel writes ';' in many locales and tabs for "Unicode text"
FAQ_COLUMNS_HELP = "question, answer (optional: alternates, url, id)"
SHOPIFY_COLUMNS_HELP = "Handle, Title, Variant Price (a Shopify products export)"
UNKNOWN_FORMAT_HELP = "expected a folder of .md/.html pages, a .csv, a .jsonl or a sitemap .xml"
# An uploaded .zip stands for a folder (of pages, or a sitemap with its saved pages); these bound what it may unpack to.
ZIP_MAX_FILES = 10_000
ZIP_MAX_BYTES = 500 * 1024 * 1024
#: A file name longer than this (or 255 bytes of UTF-8, what Linux file systems hold) is refused, not written.
MAX_NAME_CHARS = 200
ATX_H1 = re.compile(r"^ {0,3}#[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$")
FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
SHOPIFY_HIDDEN_STATUSES = frozenset({"draft", "archived"})
FALSE_WORDS = frozenset({"false", "no", "0"})
FAQ_LABELS = MappingProxyType({"title": "question", "body": "answer"})
EVAL_LABELS = MappingProxyType({"alternates": "questions", "body": "answer", "ref": "id"})
PRODUCT_LABELS = MappingProxyType({"title": "Title", "body": "Body (HTML)", "price": "Variant Price", "ref": "Handle"})


@dataclass(frozen=True)
class ParsedRow:
    """One entry read from an import, with where it came from so problems and duplicates can be traced."""

    entry: EntryIn
    file: str
    line: int


@dataclass
class ParsedImport:
    """Everything parse() could read, plus one problem per skipped row."""

    rows: list[ParsedRow] = field(default_factory=list)
    problems: list[ImportProblem] = field(default_factory=list)

    def add_problem(self, file: str, line: int | None, reason: str) -> None:
        """Record a skipped row or file."""
        self.problems.append(ImportProblem(file=file, line=line, reason=reason))


class ImportFormatError(Exception):
    """The whole input cannot be read (unknown format, not UTF-8, missing required columns, malformed JSON file...).

    The message names the file (and line when known) and says what to do.
    """


class _Unusable(Exception):
    """A row, page or file that cannot be used, with a reason a store owner understands and the line if known."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


class _Format(Enum):
    folder = "folder"
    csv = "csv"
    jsonl = "jsonl"
    sitemap = "sitemap"


class _CsvKind(Enum):
    faq = "faq"
    shopify = "shopify"


class _Progress:
    """Turns 'units done so far' into the increments the caller's callback expects, summing to exactly the total."""

    def __init__(self, callback: Callable[[int], None] | None, total: int) -> None:
        self._callback = callback
        self._total = total
        self._done = 0

    def advance_to(self, done: int) -> None:
        """Report progress up to `done` units, clamped so the reported sum never exceeds the total."""
        done = min(done, self._total)
        if done > self._done:
            if self._callback is not None:
                self._callback(done - self._done)
            self._done = done

    def step(self) -> None:
        """Report one more unit done."""
        self.advance_to(self._done + 1)

    def finish(self) -> None:
        """Report whatever is left, e.g. trailing blank lines that produced no row."""
        self.advance_to(self._total)


# --------------------------------------------------------------------------------------------------------------
# Public entry points


def import_units(path: Path) -> int:
    """A cheap count of the progress steps parse() will report, so a progress bar can show a total up front.

    Raises ImportFormatError when the path cannot be read at all (the same error parse() would raise).
    """
    fmt = _detect_format(path)
    if fmt is _Format.folder:
        return len(_folder_pages(path))
    text = _read_text(path)
    if fmt is _Format.csv:
        return _csv_units(text)
    if fmt is _Format.jsonl:
        return _jsonl_units(text)
    return len(_read_sitemap(text, path.name))


def parse(path: Path, progress: Callable[[int], None] | None = None) -> ParsedImport:
    """Detect the format of `path`, read it into entries and call progress(steps) as it goes.

    A single bad row becomes a problem in the result; ImportFormatError means the input as a whole is unusable.
    """
    fmt = _detect_format(path)
    if fmt is _Format.folder:
        pages = _folder_pages(path)
        return _parse_folder(path, pages, _Progress(progress, len(pages)))
    text = _read_text(path)
    if fmt is _Format.csv:
        return _parse_csv(text, path.name, _Progress(progress, _csv_units(text)))
    if fmt is _Format.jsonl:
        return _parse_jsonl(text, path.name, _Progress(progress, _jsonl_units(text)))
    locs = _read_sitemap(text, path.name)
    return _parse_sitemap(path, locs, _Progress(progress, len(locs)))


def check_name(name: str, where: str | None = None) -> None:
    """Refuse a file name that cannot be a file here: NUL or other control characters, or too long. `where` names
    the archive a member came from."""
    shown = repr(name[:60] + "…" if len(name) > 60 else name)
    prefix = f"{where}: {shown}" if where else shown
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ImportFormatError(f"{prefix}: a file name may not hold control characters")
    if len(name) > MAX_NAME_CHARS or len(name.encode("utf-8", "surrogatepass")) > 255:
        raise ImportFormatError(f"{prefix}: a file name may have at most {MAX_NAME_CHARS} characters")


def unpack_zip(archive: Path, into: Path) -> Path:
    """Unpack an uploaded .zip into the empty folder `into` and return what to import from it.

    A zip is how a browser sends a folder: the pages folder itself, or a sitemap .xml beside its saved pages. A zip
    holding one folder stands for that folder; one whose top level has exactly one .xml is that sitemap. Names that
    would leave `into`, links and archives that unpack to more than ZIP_MAX_BYTES raise ImportFormatError.
    """
    try:
        with zipfile.ZipFile(archive) as zipped:
            members = [m for m in zipped.infolist() if not m.is_dir()]
            if len(members) > ZIP_MAX_FILES:
                raise ImportFormatError(f"{archive.name} holds more than {ZIP_MAX_FILES} files")
            if sum(m.file_size for m in members) > ZIP_MAX_BYTES:
                raise ImportFormatError(f"{archive.name} unpacks to more than {ZIP_MAX_BYTES // 1024 // 1024} MB")
            for member in members:
                _unpack_member(zipped, member, into, archive.name)
    except zipfile.BadZipFile as exc:
        raise ImportFormatError(f"{archive.name}: not a readable .zip file ({exc})") from exc
    root = into
    while True:
        visible = [p for p in root.iterdir() if not p.name.startswith(".") and p.name != "__MACOSX"]
        if len(visible) == 1 and visible[0].is_dir():
            root = visible[0]
            continue
        break
    sitemaps = [p for p in visible if p.is_file() and p.suffix.lower() == ".xml"]
    if len(sitemaps) == 1:
        return sitemaps[0]
    if not visible:
        raise ImportFormatError(f"{archive.name} is empty")
    return root


def _unpack_member(zipped: zipfile.ZipFile, member: zipfile.ZipInfo, into: Path, name: str) -> None:
    parts = member.filename.replace("\\", "/").split("/")
    if member.filename.startswith("/") or any(part in ("..", "") or ":" in part for part in parts):
        raise ImportFormatError(f"{name}: {member.filename!r} points outside the archive; zip the folder again")
    if (member.external_attr >> 16) & 0o170000 == 0o120000:
        raise ImportFormatError(f"{name}: {member.filename!r} is a link; zip the files themselves")
    for part in parts:
        check_name(part, name)
    target = into.joinpath(*parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with zipped.open(member) as source, target.open("wb") as out:
            while chunk := source.read(1024 * 1024):
                out.write(chunk)
    except OSError as exc:  # a path deeper than the file system takes, a file where a folder must go, ...
        raise ImportFormatError(f"{name}: {member.filename[:80]!r} cannot be unpacked ({exc.strerror})") from exc


# --------------------------------------------------------------------------------------------------------------
# Detection and decoding


def _detect_format(path: Path) -> _Format:
    """Pick the format from what the path is and its extension; a CSV's flavour is decided later by its header."""
    if path.is_dir() or (path.is_file() and path.suffix.lower() in PAGE_SUFFIXES):
        return _Format.folder  # a single page reads like a folder of one
    if not path.is_file():
        raise ImportFormatError(f"{path}: no such file or folder")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _Format.csv
    if suffix == ".jsonl":
        return _Format.jsonl
    if suffix == ".xml":
        return _Format.sitemap
    raise ImportFormatError(f"{path.name}: unknown file type '{suffix or path.name}'; {UNKNOWN_FORMAT_HELP}")


def _read_text(path: Path) -> str:
    """Read a whole single-file import as text, turning unreadable or empty files into ImportFormatError."""
    try:
        text = _decode(path.read_bytes())
    except OSError as exc:
        raise ImportFormatError(f"{path.name}: cannot be read ({exc.strerror or exc})") from exc
    except _Unusable as exc:
        raise ImportFormatError(f"{path.name}: {exc.reason}") from exc
    if not text.strip():
        raise ImportFormatError(f"{path.name} is empty")
    return text


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM, which is what editors and spreadsheet apps save."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise _Unusable("not valid UTF-16 text; save the file as UTF-8") from exc
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        reason = f"not UTF-8 text (invalid byte 0x{data[exc.start]:02x} at line {line}); save the file as UTF-8"
        raise _Unusable(reason) from exc


def _validation_reason(exc: ValidationError, labels: Mapping[str, str] | None = None) -> str:
    """A one-line reason from pydantic's errors, naming fields the way the source file does."""
    parts = []
    for error in exc.errors()[:2]:
        message = str(error["msg"]).removeprefix("Value error, ")
        loc = [labels.get(str(p), str(p)) if labels else str(p) for p in error["loc"]]
        parts.append(f"{'.'.join(loc)}: {message}" if loc else message)
    return "; ".join(parts)


def _make_entry(labels: Mapping[str, str] | None = None, **fields: Any) -> EntryIn:
    """Validate an entry, turning a ValidationError into a short reason instead of a traceback."""
    try:
        return EntryIn(**fields)
    except ValidationError as exc:
        raise _Unusable(_validation_reason(exc, labels)) from exc


def _humanise(stem: str) -> str:
    """'shipping-and_returns' -> 'Shipping and returns', for pages that carry no title of their own."""
    words = " ".join(re.split(r"[-_\s]+", stem)).strip()
    return words[:1].upper() + words[1:] if words else stem


# --------------------------------------------------------------------------------------------------------------
# Folders of pages


def _folder_pages(folder: Path) -> list[Path]:
    """Every Markdown/HTML file under `folder`, sorted; hidden files and folders (.git, ._ files) are left out."""
    if folder.is_file():
        return [folder]
    pages = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        pages += [Path(root, f) for f in files if not f.startswith(".") and Path(f).suffix.lower() in PAGE_SUFFIXES]
    if not pages:
        raise ImportFormatError(f"{folder.name or folder}: no .md, .markdown, .html or .htm files in this folder")
    return sorted(pages)


def _parse_folder(folder: Path, pages: list[Path], progress: _Progress) -> ParsedImport:
    """Read each page as one article; a page that cannot be used becomes a problem and the rest go on."""
    result = ParsedImport()
    for page in pages:
        name = page.name if page == folder else page.relative_to(folder).as_posix()
        try:
            entry = _page_entry(page)
        except _Unusable as exc:
            result.add_problem(name, exc.line, exc.reason)
        else:
            result.rows.append(ParsedRow(entry=entry, file=name, line=1))
        progress.step()
    progress.finish()
    return result


def _page_entry(page: Path) -> EntryIn:
    """One Markdown or HTML file as an article."""
    text = _read_page_text(page)
    if page.suffix.lower() in MARKDOWN_SUFFIXES:
        return _markdown_entry(text, page.stem)
    return _html_entry(text, page.stem)


def _read_page_text(page: Path) -> str:
    """A page file's text; unreadable or empty pages are problems for that page only."""
    try:
        text = _decode(page.read_bytes())
    except OSError as exc:
        raise _Unusable(f"cannot be read ({exc.strerror or exc})") from exc
    if not text.strip():
        raise _Unusable("the file is empty")
    return text


# --------------------------------------------------------------------------------------------------------------
# Markdown


def _markdown_entry(text: str, stem: str) -> EntryIn:
    """A Markdown article: front matter for title/url/ref, the rest kept as Markdown text."""
    meta, body = _split_front_matter(text.replace("\r\n", "\n").replace("\r", "\n"))
    if not body.strip():
        raise _Unusable("no text")
    title = _meta_text(meta, "title") or _first_h1(body) or _humanise(stem)
    ref = _meta_text(meta, "ref") or _meta_text(meta, "id")
    return _make_entry(kind=EntryKind.article, title=title, body=body, url=_meta_text(meta, "url"), ref=ref)


def _split_front_matter(text: str) -> tuple[dict[str, object], str]:
    """Split optional YAML front matter between '---' lines at the top from the Markdown body."""
    lines = text.split("\n")
    if lines[0].rstrip() != "---":
        return {}, text
    for end, line in enumerate(lines[1:], start=1):
        if line.rstrip() in ("---", "..."):
            return _load_front_matter("\n".join(lines[1:end])), "\n".join(lines[end + 1 :])
    raise _Unusable("front matter starts with '---' but has no closing '---' line", line=1)


def _load_front_matter(source: str) -> dict[str, object]:
    """Parse front matter YAML; errors point at the file line (front matter starts on line 2)."""
    try:
        data = yaml.safe_load(source)
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 2 if exc.problem_mark else 1
        raise _Unusable(f"invalid front matter: {exc.problem or exc.context or 'not valid YAML'}", line=line) from exc
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        # ValueError: YAML accepts things like 'date: 2024-13-45' syntactically, then fails building the date.
        raise _Unusable(f"invalid front matter: {exc}", line=1) from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise _Unusable("invalid front matter: expected 'key: value' lines", line=2)
    return {str(key).strip().lower(): value for key, value in data.items()}


def _meta_text(meta: dict[str, object], key: str) -> str | None:
    """A front matter value as text; lists and mappings are refused rather than stored as their repr."""
    value = meta.get(key)
    if value is None:
        return None
    if isinstance(value, dict | list | set | tuple | bytes):
        raise _Unusable(f"invalid front matter: '{key}' must be a single value", line=1)
    return str(value).strip() or None


def _first_h1(body: str) -> str | None:
    """The first '# heading' outside fenced code blocks."""
    fence: str | None = None
    for line in body.split("\n"):
        fence_match = FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0]
            elif marker[0] == fence:
                fence = None
            continue
        heading = ATX_H1.match(line) if fence is None else None
        if heading and heading.group(1).strip():
            return heading.group(1).strip()
    return None


# --------------------------------------------------------------------------------------------------------------
# HTML


class _Lines:
    """Visible text being built line by line: whitespace collapsed inside a line, block elements break lines."""

    def __init__(self) -> None:
        self._lines: list[str] = []
        self._current: list[str] = []

    def add(self, text: str) -> None:
        """Append text to the current line."""
        self._current.append(text)

    def newline(self) -> None:
        """End the current line, dropping it if it holds only whitespace."""
        line = " ".join("".join(self._current).split())
        if line:
            self._lines.append(line)
        self._current = []

    def text(self) -> str:
        """All lines so far, joined with newlines."""
        self.newline()
        return "\n".join(self._lines)


class _PageReader(HTMLParser):
    """Collects a page's title, first h1, canonical URL and visible text of <main>, <article> and the whole body."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = _Lines()
        self.h1 = _Lines()
        self.canonical: str | None = None
        self.regions = {"main": _Lines(), "article": _Lines(), "body": _Lines()}
        self._open = {"main": 0, "article": 0, "body": 1}
        self._hidden_depth = 0
        self._in_head = False
        self._in_title = False
        self._in_h1 = False
        self._seen_title = False
        self._seen_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in HIDDEN_ELEMENTS:
            self._hidden_depth += 1
        if self._hidden_depth:
            return
        if tag not in HEAD_ELEMENTS:
            self._in_head = False
        if tag == "link":
            self._note_canonical(attrs)
        elif tag == "head":
            self._in_head = True
        elif tag == "title" and not self._seen_title:
            self._in_title = self._seen_title = True
        elif tag == "h1" and not self._seen_h1:
            self._in_h1 = self._seen_h1 = True
        elif tag in self._open:
            self._open[tag] += 1
        self._break(tag)

    def handle_endtag(self, tag: str) -> None:
        if self._hidden_depth:
            if tag in HIDDEN_ELEMENTS:
                self._hidden_depth -= 1
            return
        self._break(tag)
        if tag == "head":
            self._in_head = False
        elif tag == "title":
            self._in_title = False
        elif tag == "h1":
            self._in_h1 = False
        elif tag in ("main", "article") and self._open[tag]:
            self._open[tag] -= 1

    def handle_data(self, data: str) -> None:
        if self._hidden_depth:
            return
        if self._in_title:
            self.title.add(data)
            return
        if self._in_head:
            return
        if self._in_h1:
            self.h1.add(data)
        for region, depth in self._open.items():
            if depth:
                self.regions[region].add(data)

    def visible_text(self) -> str:
        """Text of <main> if there is one, else of <article>, else of the whole page body."""
        for region in ("main", "article", "body"):
            text = self.regions[region].text()
            if text:
                return text
        return ""

    def _break(self, tag: str) -> None:
        """Keep paragraph, heading and list-item breaks as newlines; separate table cells with a space."""
        if tag in BLOCK_ELEMENTS:
            for region, depth in self._open.items():
                if depth:
                    self.regions[region].newline()
        elif tag in CELL_ELEMENTS:
            for region, depth in self._open.items():
                if depth:
                    self.regions[region].add(" ")

    def _note_canonical(self, attrs: list[tuple[str, str | None]]) -> None:
        """Remember the first <link rel="canonical"> href."""
        values = {name: value or "" for name, value in attrs}
        href = values.get("href", "").strip()
        if self.canonical is None and "canonical" in values.get("rel", "").lower().split() and href:
            self.canonical = href


def _read_html(text: str) -> _PageReader:
    """Run the HTML reader over a page or fragment."""
    reader = _PageReader()
    try:
        reader.feed(text)
        reader.close()
    except AssertionError as exc:
        # html.parser (3.11) asserts on some malformed declarations such as '<![foo['; that is bad input, not a bug.
        raise _Unusable(f"cannot be read as HTML ({exc})") from exc
    return reader


def _html_to_text(html: str) -> str:
    """Visible text of an HTML page or fragment, without scripts, styles or navigation."""
    return _read_html(html).visible_text()


def _usable_url(href: str | None) -> str | None:
    """Keep a canonical link only if it is absolute or site-relative; a bad one is no reason to drop the page."""
    if not href:
        return None
    if href.startswith("//"):
        return "https:" + href
    return href if href.startswith(("https://", "http://", "/")) else None


def _html_entry(text: str, stem: str, url: str | None = None) -> EntryIn:
    """An HTML page as an article; `url` (from a sitemap) wins over the page's canonical link."""
    reader = _read_html(text)
    body = reader.visible_text()
    if not body:
        raise _Unusable("no text")
    title = reader.title.text() or reader.h1.text() or _humanise(stem)
    page_url = url or _usable_url(reader.canonical)
    return _make_entry(kind=EntryKind.article, title=title, body=body, url=page_url)


# --------------------------------------------------------------------------------------------------------------
# CSV


@dataclass(frozen=True)
class _CsvLayout:
    """How a CSV file is laid out: its delimiter, flavour and column positions (by lower-cased name)."""

    delimiter: str
    kind: _CsvKind
    columns: dict[str, int]

    def cell(self, row: list[str], column: str) -> str:
        """The stripped value of `column` in `row`, or '' when the column or cell is missing."""
        index = self.columns.get(column)
        return row[index].strip() if index is not None and index < len(row) else ""


@dataclass
class _Product:
    """A Shopify product gathered from its rows: the row with its details and one row per variant."""

    handle: str
    line: int
    main: list[str]
    variants: list[tuple[int, list[str]]]


def _csv_units(text: str) -> int:
    """Data lines of a CSV (every physical line after the header), the unit of CSV progress."""
    return max(sum(1 for _ in io.StringIO(text, newline="")) - 1, 0)


def _csv_records(text: str, delimiter: str, name: str) -> Iterator[tuple[int, int, list[str]]]:
    """Yield (first line, last line, cells) for each CSV record, with real file line numbers."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    end = 0
    while True:
        start = end + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise ImportFormatError(f"{name}:{reader.line_num}: cannot read this CSV row ({exc})") from exc
        end = reader.line_num
        yield start, end, row


def _is_blank(row: list[str]) -> bool:
    """A row of empty cells, as spreadsheets write between blocks; skipped silently."""
    return not any(cell.strip() for cell in row)


def _csv_kind(columns: dict[str, int]) -> _CsvKind | None:
    """Which flavour of CSV a header belongs to, if any."""
    if {"question", "answer"} <= columns.keys():
        return _CsvKind.faq
    if {"handle", "title", "variant price"} <= columns.keys():
        return _CsvKind.shopify
    return None


def _header_columns(row: list[str]) -> dict[str, int]:
    """Column positions by case-insensitive, trimmed name; the first of duplicated names wins."""
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        columns.setdefault(name.strip().lower(), index)
    return columns


def _csv_header(text: str, delimiter: str, name: str) -> list[str]:
    """The first non-blank record, which is the header."""
    for _, _, row in _csv_records(text, delimiter, name):
        if not _is_blank(row):
            return row
    return []


def _csv_layout(text: str, name: str) -> _CsvLayout:
    """Recognise a FAQ or Shopify CSV by its header, trying the delimiters spreadsheet apps use."""
    for delimiter in CSV_DELIMITERS:
        columns = _header_columns(_csv_header(text, delimiter, name))
        kind = _csv_kind(columns)
        if kind is not None:
            return _CsvLayout(delimiter=delimiter, kind=kind, columns=columns)
    found = ", ".join(c.strip() for c in _csv_header(text, ",", name)[:12] if c.strip()) or "none"
    raise ImportFormatError(
        f"{name}: unrecognised columns ({found}); expected a FAQ file with columns {FAQ_COLUMNS_HELP} "
        f"or a Shopify products export with columns {SHOPIFY_COLUMNS_HELP}"
    )


def _parse_csv(text: str, name: str, progress: _Progress) -> ParsedImport:
    """Read a FAQ or Shopify products CSV."""
    layout = _csv_layout(text, name)
    records = _csv_data_records(text, layout, name, progress)
    read_rows = _faq_rows if layout.kind is _CsvKind.faq else _shopify_rows
    result = read_rows(records, layout, name)
    progress.finish()
    return result


def _csv_data_records(text: str, layout: _CsvLayout, name: str, progress: _Progress) -> Iterator[tuple[int, list[str]]]:
    """Yield (first line, cells) for each non-blank record after the header, reporting progress by lines read."""
    header_seen = False
    for start, end, row in _csv_records(text, layout.delimiter, name):
        progress.advance_to(end - 1)
        if _is_blank(row):
            continue
        if header_seen:
            yield start, row
        header_seen = True


def _faq_rows(records: Iterator[tuple[int, list[str]]], layout: _CsvLayout, name: str) -> ParsedImport:
    """One FAQ entry per row; a bad row becomes a problem at its line."""
    result = ParsedImport()
    for line, row in records:
        try:
            entry = _faq_entry(row, layout)
        except _Unusable as exc:
            result.add_problem(name, line, exc.reason)
        else:
            result.rows.append(ParsedRow(entry=entry, file=name, line=line))
    return result


def _faq_entry(row: list[str], layout: _CsvLayout) -> EntryIn:
    """One FAQ row: question, answer, optional '|'-separated alternates, url and id/ref."""
    question, answer = layout.cell(row, "question"), layout.cell(row, "answer")
    if not question:
        raise _Unusable("empty question")
    if not answer:
        raise _Unusable("empty answer")
    alternates = [a.strip() for a in layout.cell(row, "alternates").split("|") if a.strip()]
    return _make_entry(
        FAQ_LABELS,
        kind=EntryKind.faq,
        title=question,
        body=answer,
        alternates=alternates,
        url=layout.cell(row, "url") or None,
        ref=layout.cell(row, "ref") or layout.cell(row, "id") or None,
    )


# --------------------------------------------------------------------------------------------------------------
# Shopify products export


def _shopify_rows(records: Iterator[tuple[int, list[str]]], layout: _CsvLayout, name: str) -> ParsedImport:
    """One product entry per Handle, located at the row where the product starts."""
    result = ParsedImport()
    for product in _group_products(records, layout, name, result):
        try:
            entry = _product_entry(product, layout)
        except _Unusable as exc:
            result.add_problem(name, exc.line or product.line, exc.reason)
        else:
            result.rows.append(ParsedRow(entry=entry, file=name, line=product.line))
    return result


def _group_products(
    records: Iterator[tuple[int, list[str]]], layout: _CsvLayout, name: str, result: ParsedImport
) -> list[_Product]:
    """Gather Shopify's one-row-per-variant (and per-image) layout into one product per Handle."""
    products: dict[str, _Product] = {}
    for line, row in records:
        handle = layout.cell(row, "handle")
        if not handle:
            result.add_problem(name, line, "row has no Handle")
            continue
        product = products.get(handle)
        if product is None:
            product = products[handle] = _Product(handle=handle, line=line, main=row, variants=[])
        elif layout.cell(row, "title") and not layout.cell(product.main, "title"):
            product.main = row
        if product.main is row or _is_variant_row(row, layout):
            product.variants.append((line, row))
    return list(products.values())


def _is_variant_row(row: list[str], layout: _CsvLayout) -> bool:
    """Extra rows are variants when they carry variant data; rows with only an image do not."""
    columns = ("variant price", "variant inventory qty", "variant sku", "option1 value")
    return any(layout.cell(row, column) for column in columns)


def _product_entry(product: _Product, layout: _CsvLayout) -> EntryIn:
    """One product from its merged rows: lowest variant price, in stock if any variant can be bought."""
    title = layout.cell(product.main, "title")
    if not title:
        raise _Unusable(f"product '{product.handle}' has no Title")
    _check_published(product, layout)
    return _make_entry(
        PRODUCT_LABELS,
        kind=EntryKind.product,
        ref=product.handle,
        title=title,
        body=_product_body(product, layout),
        url=f"/products/{quote(product.handle)}",
        price=_lowest_price(product, layout),
        availability=_availability(product, layout),
    )


def _check_published(product: _Product, layout: _CsvLayout) -> None:
    """Skip products customers cannot see, so the agent never offers them."""
    status = layout.cell(product.main, "status").lower()
    if status in SHOPIFY_HIDDEN_STATUSES:
        raise _Unusable(f"product '{product.handle}' is {status}, not published")
    if layout.cell(product.main, "published").lower() in FALSE_WORDS:
        raise _Unusable(f"product '{product.handle}' is not published on the online store")


def _lowest_price(product: _Product, layout: _CsvLayout) -> Decimal | None:
    """The 'from' price customers see: the cheapest variant."""
    prices = []
    for line, row in product.variants:
        raw = layout.cell(row, "variant price")
        if not raw:
            continue
        try:
            price = Decimal(raw)
        except InvalidOperation as exc:
            raise _Unusable(f"product '{product.handle}': Variant Price '{raw[:40]}' is not a number", line) from exc
        if not price.is_finite():
            raise _Unusable(f"product '{product.handle}': Variant Price '{raw[:40]}' is not a number", line)
        prices.append(price)
    return min(prices, default=None)


def _availability(product: _Product, layout: _CsvLayout) -> Availability:
    """In stock when any variant can be bought."""
    in_stock = any(_variant_in_stock(row, layout) for _, row in product.variants)
    return Availability.in_stock if in_stock else Availability.out_of_stock


def _variant_in_stock(row: list[str], layout: _CsvLayout) -> bool:
    """A variant can be bought if stock isn't tracked, overselling is allowed or some is left."""
    if layout.cell(row, "variant inventory policy").lower() == "continue":
        return True
    if "variant inventory tracker" in layout.columns and not layout.cell(row, "variant inventory tracker"):
        return True  # Shopify does not track this variant's stock, so it is always purchasable
    quantity = layout.cell(row, "variant inventory qty")
    if not quantity:
        return True
    try:
        return Decimal(quantity) > 0
    except InvalidOperation:
        return False


def _product_body(product: _Product, layout: _CsvLayout) -> str:
    """The description as text plus a line with type, vendor and tags, which customers often ask about."""
    description = _html_to_text(layout.cell(product.main, "body (html)"))
    details = [
        f"{label}: {value}"
        for label, value in (
            ("Type", layout.cell(product.main, "type")),
            ("Vendor", layout.cell(product.main, "vendor")),
            ("Tags", layout.cell(product.main, "tags")),
        )
        if value
    ]
    return "\n".join(part for part in (description, "; ".join(details)) if part)


# --------------------------------------------------------------------------------------------------------------
# JSONL


def _jsonl_lines(text: str) -> Iterator[tuple[int, str]]:
    """Non-blank lines with their line numbers; split on '\\n' only, as JSON strings may hold U+2028 and friends."""
    for number, line in enumerate(text.split("\n"), start=1):
        if line.strip():
            yield number, line


def _jsonl_units(text: str) -> int:
    """Non-blank lines, the unit of JSONL progress."""
    return sum(1 for _ in _jsonl_lines(text))


def _parse_jsonl(text: str, name: str, progress: _Progress) -> ParsedImport:
    """Read one entry per line, in the evaluation-set shape or our own EntryIn shape."""
    result = ParsedImport()
    any_json = False
    for line, source in _jsonl_lines(text):
        try:
            data = _json_object(source)
            any_json = True
            entry = _jsonl_entry(data)
        except _Unusable as exc:
            result.add_problem(name, line, exc.reason)
        else:
            result.rows.append(ParsedRow(entry=entry, file=name, line=line))
        progress.step()
    if not any_json and result.problems:
        first = result.problems[0]
        raise ImportFormatError(f"{name}:{first.line}: not JSON Lines ({first.reason}); write one JSON object per line")
    progress.finish()
    return result


def _json_object(source: str) -> dict[str, Any]:
    """Decode one JSONL line, which must be an object."""
    try:
        data = json.loads(source, parse_float=Decimal)  # Decimal keeps prices such as 19.99 exact
    except json.JSONDecodeError as exc:
        raise _Unusable(f"invalid JSON: {exc.msg} at column {exc.colno}") from exc
    except (ValueError, RecursionError) as exc:
        raise _Unusable(f"invalid JSON: {exc}"[:200]) from exc
    if not isinstance(data, dict):
        raise _Unusable("invalid JSON: each line must be one JSON object, {...}")
    return data


def _jsonl_entry(data: dict[str, Any]) -> EntryIn:
    """An entry from either JSONL shape; 'questions' marks the evaluation-set shape."""
    if "questions" in data:
        return _eval_entry(data)
    try:
        return EntryIn.model_validate(data)
    except ValidationError as exc:
        raise _Unusable(_validation_reason(exc)) from exc


def _eval_entry(data: dict[str, Any]) -> EntryIn:
    """The evaluation-set shape: answers are empty there, so the title stands in as the body."""
    title = data.get("title")
    answer = data.get("answer")
    questions = data.get("questions")
    if isinstance(questions, list) and isinstance(title, str):
        # The title is often repeated among the phrasings; keeping it twice would only add noise.
        questions = [q for q in questions if not (isinstance(q, str) and q.strip() == title.strip())]
    ref = data.get("id")
    return _make_entry(
        EVAL_LABELS,
        kind=EntryKind.faq,
        ref=str(ref) if isinstance(ref, int | str) and not isinstance(ref, bool) else ref,
        title=title,
        alternates=questions,
        body=title if answer is None or (isinstance(answer, str) and not answer.strip()) else answer,
    )


# --------------------------------------------------------------------------------------------------------------
# Sitemaps


def _refuse_doctype(*_: object) -> None:
    # A sitemap never needs a DTD, and refusing one rules out entity-expansion tricks.
    raise _Unusable("a DOCTYPE is not allowed in a sitemap")


class _SitemapReader:
    """Collects the root element name and each page's <url><loc> with its line, using expat for line numbers."""

    def __init__(self) -> None:
        self.root: str | None = None
        self.locs: list[tuple[int, str]] = []
        self._open: list[str] = []
        self._loc_parts: list[str] | None = None
        self._parser = expat.ParserCreate(encoding="utf-8", namespace_separator=" ")
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.CharacterDataHandler = self._data
        self._parser.StartDoctypeDeclHandler = _refuse_doctype

    def read(self, text: str) -> None:
        """Parse the whole document; raises expat.ExpatError or _Unusable."""
        self._parser.Parse(text.encode("utf-8"), True)

    @property
    def line(self) -> int:
        """The line the parser is at, for errors raised from a handler."""
        return self._parser.CurrentLineNumber

    def _start(self, name: str, _attrs: dict[str, str]) -> None:
        local = name.rpartition(" ")[2]
        if self.root is None:
            self.root = local
        # Only a <loc> directly in <url> is a page; Shopify sitemaps also carry <image:image><image:loc>.
        if local == "loc" and self._open[-1:] == ["url"]:
            self._loc_parts = []
            self.locs.append((self._parser.CurrentLineNumber, ""))
        self._open.append(local)

    def _end(self, _name: str) -> None:
        self._open.pop()
        if self._loc_parts is not None and self._open[-1:] == ["url"]:
            line, _ = self.locs[-1]
            self.locs[-1] = (line, "".join(self._loc_parts).strip())
            self._loc_parts = None

    def _data(self, data: str) -> None:
        if self._loc_parts is not None:
            self._loc_parts.append(data)


def _read_sitemap(text: str, name: str) -> list[tuple[int, str]]:
    """The (line, URL) of each <loc> in a <urlset> sitemap; malformed XML is an error for the whole file."""
    reader = _SitemapReader()
    try:
        reader.read(text)
    except expat.ExpatError as exc:
        raise ImportFormatError(f"{name}:{exc.lineno}: not valid XML ({expat.ErrorString(exc.code)})") from exc
    except _Unusable as exc:
        raise ImportFormatError(f"{name}:{reader.line}: {exc.reason}") from exc
    if reader.root == "sitemapindex":
        raise ImportFormatError(f"{name}: this is a sitemap index; import each sitemap it lists instead")
    if reader.root != "urlset":
        raise ImportFormatError(f"{name}: not a sitemap (the root element is <{reader.root}>, expected <urlset>)")
    return reader.locs


class _PageUnusable(_Unusable):
    """A page listed in a sitemap was found but cannot be used; the problem belongs to the page's file."""

    def __init__(self, reason: str, file: str, line: int | None) -> None:
        super().__init__(reason, line)
        self.file = file


def _parse_sitemap(sitemap: Path, locs: list[tuple[int, str]], progress: _Progress) -> ParsedImport:
    """Import the saved copy of each page a sitemap lists, with the page's URL from the sitemap."""
    result = ParsedImport()
    folder = sitemap.parent
    first_seen: dict[str, int] = {}
    for line, loc in locs:
        try:
            row = _sitemap_row(folder, loc, line, first_seen)
        except _Unusable as exc:
            result.add_problem(exc.file if isinstance(exc, _PageUnusable) else sitemap.name, exc.line, exc.reason)
        else:
            result.rows.append(row)
        first_seen.setdefault(loc, line)
        progress.step()
    progress.finish()
    return result


def _sitemap_row(folder: Path, loc: str, line: int, first_seen: dict[str, int]) -> ParsedRow:
    """The saved page for one <loc>, as an article with the loc as its URL."""
    if not loc:
        raise _Unusable("empty <loc>", line)
    if loc in first_seen:
        raise _Unusable(f"{loc} is listed twice (first at line {first_seen[loc]})", line)
    page = _saved_page(folder, loc)
    if page is None:
        raise _Unusable(f"no saved page for {loc}", line)
    name = page.relative_to(folder).as_posix()
    try:
        entry = _html_entry(_read_page_text(page), page.stem, url=loc)
    except _Unusable as exc:
        raise _PageUnusable(exc.reason, name, exc.line) from exc
    return ParsedRow(entry=entry, file=name, line=1)


def _saved_page(folder: Path, loc: str) -> Path | None:
    """Map a URL to its saved HTML file next to the sitemap: /a/b -> a/b.html, a/b/index.html or a/b."""
    parts = [part for part in unquote(urlsplit(loc).path).split("/") if part]
    if any(part in (".", "..") or "\\" in part or "\x00" in part for part in parts):
        return None  # never let a URL point outside the sitemap's folder
    if not parts:
        candidates = [folder / "index.html"]
    else:
        base = folder.joinpath(*parts)
        candidates = [base.with_name(base.name + ".html"), base / "index.html", base]
    root = folder.resolve()
    for candidate in candidates:
        try:
            if candidate.is_file() and candidate.resolve().is_relative_to(root):
                return candidate
        except (OSError, ValueError):
            continue  # e.g. a name too long for the file system: there is no such saved page
    return None
