"""Every key binding of the app, each with an id users can rebind in their user config:

    [keymap]
    "label.skip" = "k"

The help screen (`?` / F1) lists the ids next to the keys. Classification keys are not bindings:
they come from [tasks.<task_type>] (`keys`), so a team shares them.
"""

from __future__ import annotations

from textual.binding import Binding

SCREENS = ("datasets", "label", "models", "run", "review", "trends")
SCREEN_TITLES = {
    "datasets": "Datasets", "label": "Label", "models": "Models", "run": "Run", "review": "Review", "trends": "Trends",
}

APP = [
    *(Binding(str(i), f"app.open_screen('{name}')", SCREEN_TITLES[name], show=False, id=f"app.screen.{name}")
      for i, name in enumerate(SCREENS, 1)),
    Binding("f1,question_mark", "app.help", "Help", id="app.help"),
    Binding("ctrl+q", "app.quit", "Quit", priority=True, id="app.quit"),
    Binding("ctrl+p", "app.command_palette", "Palette", show=False, priority=True, id="app.palette"),
    Binding("ctrl+c", "app.help_quit", "", show=False, system=True, id="app.help_quit"),
]

# Textual's own screen keys, restated so they too have ids.
SCREEN = [
    Binding("tab", "app.focus_next", "Focus next", show=False, id="screen.focus_next"),
    Binding("shift+tab", "app.focus_previous", "Focus previous", show=False, id="screen.focus_previous"),
    Binding("ctrl+c,super+c", "screen.copy_text", "Copy selected text", show=False, id="screen.copy"),
]

DATASETS = [
    Binding("l", "label_dataset", "Label", id="datasets.label"),
    Binding("i", "import_file", "Import", id="datasets.import"),
    Binding("s", "sample_logs", "Sample", id="datasets.sample"),
    Binding("e", "edit_case", "Edit", id="datasets.edit"),
    Binding("E", "edit_external", "$EDITOR", show=False, id="datasets.edit_external"),
    Binding("t", "tag_case", "Tag", id="datasets.tag"),
    Binding("x", "toggle_exclude", "Excl/incl", id="datasets.exclude"),
    Binding("o", "export", "Export", id="datasets.export"),
    Binding("v", "versions", "Versions", id="datasets.versions"),
    Binding("slash", "focus_filter", "Filter", id="datasets.filter"),
    Binding("right_square_bracket", "page(1)", "Next page", show=False, id="datasets.next_page"),
    Binding("left_square_bracket", "page(-1)", "Prev page", show=False, id="datasets.prev_page"),
    Binding("r", "reload", "Reload", show=False, id="datasets.reload"),
    Binding("escape", "leave_filter", "Back to cases", show=False, id="datasets.leave_filter"),
]

LABEL = [
    Binding("s", "skip", "Skip", id="label.skip"),
    Binding("f", "flag", "Flag", id="label.flag"),
    Binding("u", "undo", "Undo", id="label.undo"),
    Binding("left_square_bracket", "step(-1)", "Prev", id="label.prev"),
    Binding("right_square_bracket", "step(1)", "Next", id="label.next"),
    Binding("g", "guidelines", "Guidelines", id="label.guidelines"),
    Binding("n", "note", "Note", id="label.note"),
    Binding("e", "edit", "Edit", id="label.edit"),
    Binding("enter", "accept", "Accept", show=False, id="label.accept"),
    Binding("ctrl+s", "accept", "Accept", show=False, id="label.accept_anywhere"),
    Binding("a", "toggle_adjudication", "Adjudicate", id="label.adjudication"),
    # priority: handled as it is typed, so a digit typed right after it reaches Datasets, not this
    # screen's label keys (a focused text field still takes `d` as a letter: check_consume_key)
    Binding("d", "datasets", "Datasets", priority=True, id="label.datasets"),
    Binding("escape", "leave_field", "Leave field", show=False, id="label.leave_field"),
    Binding("pagedown", "scroll_case(1)", "Scroll case down", show=False, id="label.scroll_down"),
    Binding("pageup", "scroll_case(-1)", "Scroll case up", show=False, id="label.scroll_up"),
]

# Modal dialogs: one cancel key for all of them.
MODAL = [*SCREEN, Binding("escape", "cancel", "Cancel", id="modal.cancel")]
VERSIONS = [Binding("n", "snapshot", "Snapshot now", id="versions.snapshot")]
EDIT_CASE = [Binding("ctrl+s", "save", "Save", id="edit_case.save")]

MODELS = [
    Binding("a", "add", "Add", id="models.add"),
    Binding("e", "edit", "Edit", id="models.edit"),
    Binding("d", "duplicate", "Duplicate", id="models.duplicate"),
    Binding("delete", "delete", "Delete", id="models.delete"),
    Binding("t", "test_connection", "Test connection", id="models.test"),
    Binding("r", "reload", "Reload", id="models.reload"),
    Binding("p", "switch_tab", "Models/Prompts", id="models.switch_tab"),
    Binding("ctrl+s", "save_prompt", "Save prompt", show=False, id="models.save_prompt"),
    Binding("left_square_bracket", "step_case(-1)", "Prev case", show=False, id="models.prev_case"),
    Binding("right_square_bracket", "step_case(1)", "Next case", show=False, id="models.next_case"),
]
MODEL_FORM = [Binding("ctrl+s", "save", "Save", id="model_form.save")]

RUN = [
    Binding("s", "start", "Start", id="run.start"),
    Binding("c", "cancel_run", "Cancel run", id="run.cancel"),
    Binding("v", "review", "Open in Review", id="run.review"),
    Binding("r", "resume", "Resume", id="run.resume"),
    Binding("e", "retry_errors", "Retry errors", id="run.retry_errors"),
    Binding("h", "focus_history", "History", id="run.history"),
    Binding("f", "focus_form", "Form", id="run.form"),
]


REVIEW = [
    Binding("r", "pick_run", "Run", id="review.run"),
    Binding("b", "pick_baseline", "Baseline", id="review.baseline"),
    Binding("c", "pick_models", "Models A/B", id="review.models"),
    Binding("a", "filter_class(None)", "All", id="review.all"),
    Binding("p", "filter_class('all_pass')", "All pass", show=False, id="review.all_pass"),
    Binding("f", "filter_class('all_fail')", "All fail", show=False, id="review.all_fail"),
    Binding("x", "filter_class('disagree')", "Disagree", id="review.disagree"),
    Binding("A", "filter_class('a_only')", "A only", show=False, id="review.a_only"),
    Binding("B", "filter_class('b_only')", "B only", show=False, id="review.b_only"),
    Binding("g", "filter_class('regressed')", "Regressed", id="review.regressed"),
    Binding("i", "filter_class('improved')", "Improved", show=False, id="review.improved"),
    Binding("m", "filter_class('missing')", "Missing", show=False, id="review.missing"),
    Binding("e", "filter_class('call_error')", "Call error", show=False, id="review.call_error"),
    Binding("s", "filter_class('scorer_error')", "Scorer error", show=False, id="review.scorer_error"),
    Binding("u", "filter_class('unscored')", "Unscored", show=False, id="review.unscored"),
    Binding("h", "filter_class('overridden')", "Overridden", show=False, id="review.overridden"),
    Binding("t", "cycle_task", "Task type", show=False, id="review.task"),
    Binding("v", "cycle_difficulty", "Difficulty", show=False, id="review.difficulty"),
    Binding("slash", "focus_search", "Search", id="review.search"),
    Binding("escape", "leave_search", "Back to cases", show=False, id="review.leave_search"),
    Binding("j", "jump", "Jump to case", id="review.jump"),
    Binding("d", "toggle_diff", "Diff", id="review.diff"),
    Binding("comma", "select_answer(-1)", "Prev answer", show=False, id="review.prev_answer"),
    Binding("full_stop", "select_answer(1)", "Next answer", show=False, id="review.next_answer"),
    Binding("o", "override", "Override", id="review.override"),
    Binding("L", "flag", "Flag for labeling", id="review.flag"),
    Binding("dollar_sign", "costs", "Costs", id="review.costs"),
    Binding("right_square_bracket", "page(1)", "Next page", show=False, id="review.next_page"),
    Binding("left_square_bracket", "page(-1)", "Prev page", show=False, id="review.prev_page"),
]

TRENDS = [
    Binding("m", "metric(1)", "Next metric", id="trends.next_metric"),
    Binding("M", "metric(-1)", "Prev metric", show=False, id="trends.prev_metric"),
    Binding("s", "focus_series", "Series", id="trends.series"),
    Binding("a", "focus_alerts", "Alerts", id="trends.alerts"),
    Binding("k", "acknowledge", "Acknowledge", id="trends.acknowledge"),
    Binding("v", "volume", "Volume", id="trends.volume"),
    Binding("n", "bar", "Min pass", id="trends.bar"),
    Binding("o", "open_review", "Open in Review", id="trends.review"),
    Binding("r", "reload", "Reload", id="trends.reload"),
]


def binding_ids() -> set[str]:
    groups = (APP, SCREEN, DATASETS, LABEL, MODAL, VERSIONS, EDIT_CASE, MODELS, MODEL_FORM, RUN, REVIEW, TRENDS)
    return {b.id for group in groups for b in group if b.id}


def unknown_ids(keymap: dict[str, str]) -> list[str]:
    """Keymap entries that name no binding (a typo would otherwise be silently ignored)."""
    known = binding_ids()
    return sorted(k for k in keymap if k not in known)
