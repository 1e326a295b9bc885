"""core.config.preview: editing one part of a prompt and rendering a case as a run would."""

from __future__ import annotations

import pytest

from core.config.preview import edited_prompt, part_texts, render_preview
from core.config.schema import PromptConfig
from core.errors import ConfigError

CASE = {"id": "c1", "input_text": "Great!", "task_type": "sentiment", "metadata": {"lang": "en"}}


def test_own_texts_and_a_variant():
    base = PromptConfig(system="Be brief.", template="Review: {input_text}")
    p = edited_prompt(base, None, "Be kind.", "Text ({metadata.lang}): {input_text}")
    assert render_preview(p, CASE).messages == [
        {"role": "system", "content": "Be kind."}, {"role": "user", "content": "Text (en): Great!"}]
    p = edited_prompt(p, "sentiment", "", "Label: {input_text}")
    preview = render_preview(p, CASE)
    assert preview.variant == "sentiment"
    assert preview.messages[-1]["content"] == "Label: Great!" and preview.messages[0]["content"] == "Be kind."
    assert part_texts(p, "sentiment") == ("", "Label: {input_text}")
    assert "sentiment" not in edited_prompt(p, "sentiment", "", "").tasks  # all blank: the variant goes


def test_bad_template_and_missing_value():
    with pytest.raises(ConfigError, match="unknown placeholder"):
        edited_prompt(PromptConfig(), None, "", "{nope}")
    with pytest.raises(ConfigError, match="template is required"):
        edited_prompt(PromptConfig(), None, "", " ")
    preview = render_preview(PromptConfig(template="{metadata.missing}"), CASE)
    assert preview.messages == [] and "metadata.missing" in (preview.error or "")
