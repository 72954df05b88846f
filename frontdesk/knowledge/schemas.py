"""API and import shapes of knowledge entries."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TITLE = 500
MAX_BODY = 100_000


class EntryKind(StrEnum):
    faq = "faq"
    article = "article"
    product = "product"


class Availability(StrEnum):
    in_stock = "in_stock"
    out_of_stock = "out_of_stock"
    preorder = "preorder"
    discontinued = "discontinued"


def _clean(text: str) -> str:
    return text.replace("\x00", "").strip()


class EntryIn(BaseModel):
    """One knowledge entry as written by a store: FAQ, article or product.

    For a FAQ, `title` is the question, `alternates` other phrasings of it and `body` the answer.
    For an article, `title`, `body` and `url`. For a product, `title`, `body` (the description), `price`,
    `url` and `availability`. Text is stored as text: HTML and scripts are never interpreted.
    """

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: EntryKind
    ref: str | None = Field(default=None, max_length=200, description="The store's own id for this entry.")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    alternates: list[str] = Field(default_factory=list)  # every phrasing is kept: FAQs built from tickets have hundreds
    body: str = Field(default="", max_length=MAX_BODY)
    url: str | None = Field(default=None, max_length=2000)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    availability: Availability | None = None

    @field_validator("title", "body")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _clean(value)

    @field_validator("alternates")
    @classmethod
    def _alternates(cls, value: list[str]) -> list[str]:
        cleaned = [_clean(a) for a in value]
        for alternate in cleaned:
            if len(alternate) > MAX_TITLE:
                raise ValueError(f"an alternate phrasing is longer than {MAX_TITLE} characters")
        return [a for a in cleaned if a]

    @field_validator("url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if not value:
            return None
        if not value.startswith(("https://", "http://", "/")):
            raise ValueError("url must start with https://, http:// or /")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> EntryIn:
        if self.kind is EntryKind.faq and not self.body:
            raise ValueError("a FAQ entry needs an answer")
        if self.kind is not EntryKind.product and (self.price is not None or self.availability is not None):
            raise ValueError("price and availability belong to products only")
        return self


class EntryPatch(BaseModel):
    """A partial change to an entry; fields left out are kept."""

    model_config = ConfigDict(str_strip_whitespace=True)

    ref: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE)
    alternates: list[str] | None = None
    body: str | None = Field(default=None, max_length=MAX_BODY)
    url: str | None = Field(default=None, max_length=2000)
    price: Decimal | None = Field(default=None, ge=0, max_digits=12, decimal_places=2)
    availability: Availability | None = None


class PhrasingIn(BaseModel):
    """Another way shoppers ask a FAQ's question."""

    model_config = ConfigDict(str_strip_whitespace=True)

    text: str = Field(min_length=1, max_length=MAX_TITLE)

    @field_validator("text")
    @classmethod
    def _no_nul(cls, value: str) -> str:
        return _clean(value)


class EntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    kind: EntryKind
    ref: str | None
    title: str
    alternates: list[str]
    body: str
    url: str | None
    price: Decimal | None
    availability: Availability | None
    source: str | None
    created_at: datetime
    updated_at: datetime


class EntryList(BaseModel):
    items: list[EntryOut]
    total: int


class SearchHit(BaseModel):
    entry: EntryOut
    score: float


class ImportProblem(BaseModel):
    """A row that could not be imported, and why."""

    file: str
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.reason}"


class ImportReport(BaseModel):
    imported: int
    skipped: int
    problems: list[ImportProblem]


class ThresholdOut(BaseModel):
    """The confidence an answer needs, where it comes from, and how it does on the store's labelled questions."""

    threshold: float
    default: float = Field(description="The shipped model's own threshold")
    source: Literal["default", "labels", "setting"] = Field(
        description="default: too few labels yet; labels: chosen on the store's labelled questions; setting: "
        "FRONTDESK_ANSWER_THRESHOLD"
    )
    labelled: int = Field(description="Labelled questions: handed-off ones the team answered, rated answers")
    should_answer: int
    not_covered: int
    resolution: float | None = Field(description="Of the labelled answerable questions, the share it answers right")
    wrong_answers: float | None = Field(description="Of the labelled questions it should not answer, the share it does")
