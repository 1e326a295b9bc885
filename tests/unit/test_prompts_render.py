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
