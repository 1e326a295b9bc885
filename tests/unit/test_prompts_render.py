"""Rendering messages from a prompt config: placeholders, task variants, missing keys."""

from __future__ import annotations

import pytest

from core.config.schema import PromptConfig, PromptVariant
from core.config.prompts import PromptError, check_template, render_messages

CASE = {"id": "c1", "input_text": "Where is my refund?", "task_type": "support", "difficulty": None,
        "metadata": {"tier": "gold", "n": 3, "nested": {"k": "v"}, "obj": {"a": [1, 2]}}}


def test_default_prompt_is_the_input_as_user_message():
    assert render_messages(PromptConfig(), CASE) == [{"role": "user", "content": "Where is my refund?"}]


def test_system_template_metadata_and_literal_braces():
    p = PromptConfig(system="Agent for {metadata.tier} tier", template="{{json}} {id}: {input_text} "
                     "n={metadata.n} k={metadata.nested.k} obj={metadata.obj}")
    msgs = render_messages(p, CASE)
    assert msgs[0] == {"role": "system", "content": "Agent for gold tier"}
    assert msgs[1]["content"] == '{json} c1: Where is my refund? n=3 k=v obj={"a": [1, 2]}'


def test_task_variant_and_empty_system_override():
    p = PromptConfig(system="S", template="{input_text}",
                     tasks={"support": PromptVariant(system="", template="T: {input_text}")})
    assert render_messages(p, CASE) == [{"role": "user", "content": "T: Where is my refund?"}]


@pytest.mark.parametrize("template, missing", [
    ("{metadata.absent}", "metadata.absent"),
    ("{metadata.nested.absent}", "metadata.nested.absent"),
    ("{difficulty}", "difficulty"),
])
def test_missing_value_is_a_clear_error(template, missing):
    with pytest.raises(PromptError) as err:
        render_messages(PromptConfig(template=template), CASE)
    assert "c1" in str(err.value) and missing in str(err.value)


@pytest.mark.parametrize("template", ["{}", "{0}", "{input_text!r}", "{input_text:>10}", "{metadata}",
                                      "{metadata.}", "{id.__class__}", "{ {", "}"])
def test_bad_templates_rejected(template):
    with pytest.raises(ValueError):
        check_template(template)


# As the import keeps them: the conversation up to and including the input (the last user message).
TURNS = [{"role": "system", "content": "You triage tickets."},
         {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
         {"role": "assistant", "content": "Hello, what happened?"},
         {"role": "user", "content": "Where is my refund?"}]
CHAT = {**CASE, "metadata": {"messages": TURNS}}


def test_conversation_sends_the_imported_turns_before_the_input():
    sent = render_messages(PromptConfig(conversation=True), CHAT)
    assert sent == [{"role": "system", "content": "You triage tickets."}, {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello, what happened?"},
                    {"role": "user", "content": "Where is my refund?"}]
    # The prompt's own system message replaces the conversation's.
    assert [m["content"] for m in render_messages(PromptConfig(system="Be brief.", conversation=True), CHAT)] == [
        "Be brief.", "Hi", "Hello, what happened?", "Where is my refund?"]
    # Off (the default): the input alone; a case without a conversation: the prompt alone.
    assert render_messages(PromptConfig(), CHAT) == [{"role": "user", "content": "Where is my refund?"}]
    alone = render_messages(PromptConfig(conversation=True), CASE)
    assert alone == [{"role": "user", "content": "Where is my refund?"}]


def test_a_turn_that_is_not_a_chat_message_is_a_clear_error():
    bad = {**CASE, "metadata": {"messages": [{"role": "tool", "content": "{}"}, {"role": "user", "content": "x"}]}}
    with pytest.raises(PromptError, match=r"case 'c1': metadata.messages\[0\] is not a system, user or assistant"):
        render_messages(PromptConfig(conversation=True), bad)


def test_the_conditions_hash_of_a_prompt_without_conversation_is_unchanged():
    from core.config.schema import parse_config
    from core.run.plan import conditions

    cfg = parse_config({"prompts": {"p": {"system": "S"}, "c": {"system": "S", "conversation": True}},
                        "models": {"m": {"model": "openai/x"}}})
    assert conditions(cfg, ["m"], "p", 1)["prompt"] == {"name": "p", "system": "S", "template": "{input_text}",
                                                        "tasks": {}}
    assert conditions(cfg, ["m"], "c", 1)["prompt"]["conversation"] is True
