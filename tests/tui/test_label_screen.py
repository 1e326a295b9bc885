"""Label screen: one key saves and advances, undo, resume after quitting, forms, adjudication."""

from __future__ import annotations

import asyncio

from tui_helpers import CONFIG, label_ready, make_app, press_and_render, seed, sentiment_cases, until

from core.datasets.ground_truth import current_labels
from store import connect, write
from store import datasets as store_ds
from store.labels import iter_events
from tui.screens.help import HelpScreen


def _labels(ws, annotator="ana"):
    db = connect(ws.db_path)
    try:
        return {c: v[annotator] for c, v in current_labels(iter_events(db, 1)).items() if annotator in v}
    finally:
        db.close()


def test_label_ten_undo_one_quit_and_resume(reviews):
    shown: list[str] = []

    async def first_session() -> None:
        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            assert app.focused is None  # nothing swallows digit keys
            for key in "1231231231":
                shown.append(screen._view.case.case_id)
                await press_and_render(pilot, key)
            assert screen._view.progress.done == 10
            await press_and_render(pilot, "u")
            assert screen._view.case.case_id == shown[-1] and screen._view.mine is None
            # Quit without saving anything explicitly: every label is already committed.

    async def second_session() -> None:
        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)):
            screen = await label_ready(app)
            view = screen._view
            assert view.case.case_id == shown[-1] and view.position == 10
            assert view.message == f"Resumed at case 10 of 20 (id {shown[-1]})"
            assert "Resumed at case 10 of 20" in str(screen.query_one("#lb-message").render())

    asyncio.run(first_session())
    labels = _labels(reviews)
    values = dict(zip("123", ("positive", "negative", "neutral")))
    assert labels == {cid: values[k] for cid, k in zip(shown[:9], "123123123")}
    asyncio.run(second_session())


def test_pressing_1_right_after_open_records_a_label(reviews):
    async def run() -> None:
        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            first = screen._view.case.case_id
            # Digits are labels here, so the tab bar shows no screen numbers (the others do).
            tabs = [str(t.render()) for t in screen.query("ScreenTab")]
            assert tabs[:2] == [" Datasets ", " Label "] and not any(c.isdigit() for c in "".join(tabs))
            await pilot.press("1")
            await until(lambda: _labels(reviews) == {first: "positive"})

    asyncio.run(run())


def test_keys_typed_right_after_d_go_to_the_screen_they_were_typed_for(reviews):
    """`d` then `3` typed faster than the screen switches: both keys reach the Label screen's queue
    before it handles the `d`. The `3` must open Models, not label a case."""
    from textual import events

    async def run() -> None:
        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            await label_ready(app)
            for key in "d3":
                app.post_message(events.Key(key, key))
            await until(lambda: app.current_mode == "models")
            await pilot.pause(0.3)
            assert app.current_mode == "models"

    asyncio.run(run())
    assert _labels(reviews) == {}


def test_skip_flag_note_and_navigation(reviews):
    async def run() -> None:
        app = make_app(reviews, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            first = screen._view.case.case_id
            await press_and_render(pilot, "s")
            await pilot.press("f")
            await pilot.press(*"sarcasm?")
            await press_and_render(pilot, "enter")
            assert (screen._view.progress.skipped, screen._view.progress.flagged) == (1, 1)
            await press_and_render(pilot, "left_square_bracket")
            await press_and_render(pilot, "left_square_bracket")
            assert screen._view.case.case_id == first
            await pilot.press("n")
            await pilot.press(*"refund")
            await press_and_render(pilot, "enter")
            assert screen._view.notes == (("ana", "refund"),)
            await pilot.press("g")  # only toggles the guidelines panel
            assert app.screen.query_one("#lb-guidelines").display
            assert "sentiment" in str(app.screen.query_one("#lb-guidelines-text").source)

    asyncio.run(run())


def test_extraction_form_and_free_text_editor(tmp_path):
    cases = [
        {"id": "inv1", "input_text": "Invoice from ACME, total 12.50", "task_type": "invoice",
         "metadata": {}},
        {"id": "ans1", "input_text": "What is 2+2?", "task_type": "answer"},
    ]
    ws = seed(tmp_path / "ws", cases)

    async def run() -> None:
        app = make_app(ws, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            kinds = []
            for _ in range(2):
                view = screen._view
                kinds.append(view.schema.kind)
                if app.focused is None:  # after accepting from a field, the next form is entered already
                    await pilot.press("e")
                if view.schema.kind == "extraction":
                    await pilot.press(*"ACME Ltd", "tab", *"12.50")  # `d` is a letter in a field
                    await press_and_render(pilot, "enter")
                else:
                    await pilot.press(*"4 (four, d)")
                    await press_and_render(pilot, "ctrl+s")
            assert sorted(kinds) == ["extraction", "free_text"]
            assert screen._view.case is None

    asyncio.run(run())
    assert _labels(ws) == {"inv1": {"vendor": "ACME Ltd", "total": "12.50"}, "ans1": "4 (four, d)"}


def test_adjudication_mode_shows_labels_side_by_side(tmp_path):
    ws = seed(tmp_path / "ws", sentiment_cases(3), config=CONFIG.replace("[labeling]", "[labeling]\nrequired_labels = 2"))

    async def label_all(who: str, key: str) -> None:
        app = make_app(ws, annotator=who, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            await label_ready(app)
            for _ in range(3):
                await press_and_render(pilot, key)

    async def adjudicate() -> None:
        app = make_app(ws, annotator="lee", start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            await press_and_render(pilot, "a")
            view = screen._view
            assert view.mode == "adjudicate" and view.total == 3
            others = str(screen.query_one("#lb-others").render())
            assert "ana" in others and "bo" in others and "positive" in others and "negative" in others
            await press_and_render(pilot, "2")
            assert screen._view.progress.done == 1

    asyncio.run(label_all("ana", "1"))
    asyncio.run(label_all("bo", "2"))
    asyncio.run(adjudicate())
    db = connect(ws.db_path)
    [adj] = [e for e in iter_events(db, 1) if e["kind"] == "adjudicate"]
    assert adj["annotator"] == "lee" and adj["value"] == "negative"


def test_label_reloads_its_queue_after_a_case_is_excluded_on_datasets(tmp_path):
    ws = seed(tmp_path / "ws", sentiment_cases(5))

    async def run() -> None:
        app = make_app(ws, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            assert screen._view.total == 5
            await pilot.press("d")
            await until(lambda: app.screen.query_one("#cases").row_count == 5)
            await pilot.press("escape", "x")  # exclude the first case
            await until(lambda: str(app.screen.query_one("#cases").get_row_at(0)[3]) == "excluded")
            rendered = screen.render_count
            await pilot.press("l")
            await until(lambda: app.screen is screen and screen.render_count > rendered and screen._view.case)
            assert screen._view.total == 4 and screen._view.case.case_id != "r000"

    asyncio.run(run())


def test_digits_label_a_task_that_lists_labels_but_names_no_kind(tmp_path):
    # `[tasks.classification]` with labels and no kind is a classification task, not free text.
    config = '[tasks.classification]\nlabels = ["spam", "ham"]\n'
    cases = [{"id": f"m{i}", "input_text": f"mail {i}", "task_type": "classification"} for i in range(2)]
    ws = seed(tmp_path / "ws", cases, config=config)

    async def run() -> None:
        app = make_app(ws, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await label_ready(app)
            assert screen._view.schema.kind == "classification" and app.focused is None
            assert not screen.query_one("#lb-editor").display
            first = screen._view.case.case_id
            await press_and_render(pilot, "2")
            assert _labels(ws) == {first: "ham"}

    asyncio.run(run())


def test_an_imported_conversation_reads_as_turns_on_label_and_datasets(tmp_path):
    """A chat record's earlier turns (metadata.messages) show as "role: text" lines before the input,
    not as JSON in the metadata; the text stays inert."""
    messages = [{"role": "system", "content": "Classify the ticket. [bold]x[/bold]"},
                {"role": "user", "content": [{"type": "text", "text": "Hi \x1b[2J"}]},
                {"role": "assistant", "content": "Hello, how can I help?"},
                {"role": "user", "content": "I was charged twice"}]  # the input ends what the import keeps
    cases = [{"id": "t1", "input_text": "I was charged twice", "task_type": "sentiment",
              "metadata": {"messages": messages, "source": "logs", "production_output": "PRODANSWER"}}]
    ws = seed(tmp_path / "ws", cases)

    async def run() -> None:
        from tui.screens.label import others_text

        app = make_app(ws, start="label", dataset="reviews")
        async with app.run_test(size=(120, 36)):
            screen = await label_ready(app)
            shown = screen.query_one("#lb-input").render().plain
            assert ("Conversation before the input\nsystem: Classify the ticket. [bold]x[/bold]\n"
                    "user: Hi \\x1b[2J\nassistant: Hello, how can I help?\n\nInput\nI was charged twice") in shown
            assert '"source": "logs"' in shown and '"role"' not in shown  # the rest of the metadata, once
            # Production's logged answer is a model output: not in the metadata, hidden until a decision.
            assert "PRODANSWER" not in shown and "PRODANSWER" not in others_text(screen._view).plain
            app.open_screen("datasets")

            def detail() -> str:
                found = app.screen.query("#detail")
                return found.first().render().plain if found else ""

            await until(lambda: "Conversation before the input" in detail())
            assert "assistant: Hello, how can I help?" in detail() and '"role"' not in detail()

    asyncio.run(run())


def _add_dataset(ws, name: str, cases: list[dict]) -> None:
    db = connect(ws.db_path)
    with write(db):
        store_ds.insert_cases(db, store_ds.create_dataset(db, name), cases)
    db.close()


def test_app_opens_on_the_first_dataset_with_cases_to_label(tmp_path):
    # As in `assay demo`: "contracts" sorts first but has ground truth for every case.
    ws = seed(tmp_path / "ws", sentiment_cases(3))
    _add_dataset(ws, "contracts", [{"id": "k1", "input_text": "clause", "expected_output": "ok"}])

    async def run() -> None:
        app = make_app(ws)
        async with app.run_test(size=(120, 36)) as pilot:
            await until(lambda: app.screen.query_one("#cases").row_count == 3)
            assert app.dataset_name == "reviews"
            await pilot.press("2")
            screen = await label_ready(app)
            assert screen._view.dataset_name == "reviews" and screen._view.case is not None
            first = screen._view.case.case_id
            await press_and_render(pilot, "1")
            assert _labels(ws) == {first: "positive"}

    asyncio.run(run())


def test_label_without_a_chosen_dataset_picks_the_first_with_cases_to_label(tmp_path):
    ws = seed(tmp_path / "ws", [{"id": "k1", "input_text": "clause", "expected_output": "ok"}], name="contracts")

    async def run() -> None:
        app = make_app(ws, start="label")
        async with app.run_test(size=(120, 36)) as pilot:
            assert app.dataset_id is None  # nothing to label anywhere when the app opened
            message = lambda: str(app.screen.query_one("#lb-message").render())  # noqa: E731
            await until(lambda: "Nothing to label in any dataset" in message())
            _add_dataset(ws, "reviews", sentiment_cases(2))  # e.g. `assay import` in another shell
            await pilot.press("question_mark")  # help over Label, then back: Label looks again
            await until(lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("escape")
            screen = await label_ready(app)
            assert app.dataset_name == "reviews" and screen._view.case is not None

    asyncio.run(run())
