"""Reading a completion, plain or streamed, into (output, finish_reason, input tokens, output tokens),
and the provider's own model string and system_fingerprint (`Identity`) when it sent them.

A 200 whose body is not a usable completion raises BadResponse (retried as `bad_response`).
Token counts come only from usage the provider itself sent: litellm's 0/0 filler for a response
without usage, and the usage chunk litellm computes from its own tokenizer when a stream carried
none, both stay unknown (NULL tokens and cost), never a cost of 0. A stream that ends without a
finish_reason was truncated: BadResponse, never an ok row with partial output.
"""

from __future__ import annotations

import json
import time
from typing import Any


class BadResponse(ValueError):
    """A 200 whose body is not a usable completion."""


Parsed = tuple[str | None, str | None, int | None, int | None]  # output, finish_reason, tokens in, out
Identity = tuple[str | None, str | None]  # the provider's returned model string, system_fingerprint


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def provider_identity(resp: Any) -> Identity:
    """(model, system_fingerprint) as the provider returned them; None for what it did not send.
    A change between runs breaks a trend series ("provider model changed: X -> Y")."""
    return _text(getattr(resp, "model", None)), _text(getattr(resp, "system_fingerprint", None))


def _completion_fields(content: Any, finish: str | None, tool_calls: Any, usage: Any) -> Parsed:
    """The checks and extraction shared by plain and streamed responses; raises BadResponse."""
    if content is None:
        if tool_calls:
            content = json.dumps([tc.model_dump() if hasattr(tc, "model_dump") else tc for tc in tool_calls], default=str)
        elif finish != "content_filter":
            raise BadResponse(f"no content (finish_reason={finish!r})")
    elif not isinstance(content, str):
        raise BadResponse(f"content is {type(content).__name__}, not text")
    n_in = getattr(usage, "prompt_tokens", None) if usage is not None else None
    n_out = getattr(usage, "completion_tokens", None) if usage is not None else None
    if not n_in and not n_out:
        # A request always has prompt tokens: 0/0 is litellm's filler for a response that carried
        # no usage, and must stay unknown (NULL tokens, NULL cost), never a cost of 0.
        return content, finish, None, None
    return content, finish, n_in if isinstance(n_in, int) else None, n_out if isinstance(n_out, int) else None


def parse_response(resp: Any) -> Parsed:
    """(output, finish_reason, input tokens, output tokens); raises BadResponse on an unusable body."""
    choices = getattr(resp, "choices", None)
    if not choices:
        raise BadResponse("no choices in the completion")
    choice = choices[0]
    message = getattr(choice, "message", None)
    return _completion_fields(getattr(message, "content", None), getattr(choice, "finish_reason", None),
                              getattr(message, "tool_calls", None), getattr(resp, "usage", None))


class StreamAssembly:
    """Collects a streamed completion chunk by chunk (choice 0, the only one we ask for)."""

    __slots__ = ("finish", "first_at", "has_content", "identity", "parts", "tools", "usage")

    def __init__(self) -> None:
        self.first_at: float | None = None  # perf_counter when the first chunk with content was read
        self.parts: list[str] = []
        self.has_content = False
        self.finish: str | None = None
        self.usage: Any = None
        self.tools: dict[int, dict[str, Any]] = {}
        self.identity: Identity = (None, None)

    def add(self, chunk: Any) -> None:
        model, fingerprint = provider_identity(chunk)
        self.identity = (self.identity[0] or model, self.identity[1] or fingerprint)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
        choices = getattr(chunk, "choices", None)
        if not choices:
            return
        choice = choices[0]
        delta = getattr(choice, "delta", None)
        text = getattr(delta, "content", None)
        tool_deltas = getattr(delta, "tool_calls", None)
        if text is not None:
            if not isinstance(text, str):
                raise BadResponse(f"streamed content is {type(text).__name__}, not text")
            self.has_content = True
            self.parts.append(text)
        if tool_deltas:
            for td in tool_deltas:
                self._add_tool(td)
        if self.first_at is None and (text or tool_deltas):
            self.first_at = time.perf_counter()
        finish = getattr(choice, "finish_reason", None)
        if finish is not None:
            self.finish = finish

    def _add_tool(self, td: Any) -> None:
        index = getattr(td, "index", None)
        call = self.tools.setdefault(index if isinstance(index, int) else len(self.tools),
                                     {"id": None, "type": "function", "function": {"name": "", "arguments": ""}})
        if getattr(td, "id", None):
            call["id"] = td.id
        if getattr(td, "type", None):
            call["type"] = td.type
        fn = getattr(td, "function", None)
        for key in ("name", "arguments"):
            piece = getattr(fn, key, None)
            if isinstance(piece, str):
                call["function"][key] += piece

    def result(self, provider_usage: bool) -> Parsed:
        if self.finish is None:
            raise BadResponse("the stream ended without a finish_reason (truncated)")
        content = "".join(self.parts) if self.has_content else None
        tool_calls = [self.tools[k] for k in sorted(self.tools)] if self.tools else None
        if content == "" and tool_calls:  # a role chunk's empty text before tool-call deltas
            content = None
        return _completion_fields(content, self.finish, tool_calls, self.usage if provider_usage else None)


def provider_sent_usage(stream: Any) -> bool:
    """Whether the usage litellm yielded came from the provider. When the provider sent none,
    litellm (asked for include_usage) builds a usage chunk from its own token count; its raw
    chunks (`stream.chunks`) show which it was. Without that attribute, trust the usage chunk."""
    raw = getattr(stream, "chunks", None)
    if not isinstance(raw, list):
        return True
    return any(getattr(c, "usage", None) is not None for c in reversed(raw))  # usage comes last
