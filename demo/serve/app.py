"""The OpenAI-compatible endpoints, as pure request -> Reply logic (the HTTP layer does the I/O).

Routes: POST /v1/chat/completions, GET /v1/models[/ID], and the control endpoints
GET|POST /_assay/config, GET /_assay/stats, POST /_assay/reset. The /v1 prefix is optional.
"""

from __future__ import annotations

import itertools
import json
import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from demo.serve import demo_models, flips
from demo.serve.faults import ERRORS, FaultRule, error_body
from demo.serve.state import HTTP_OPTIONS, ServerState

CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_CREATED = 1_700_000_000  # a fixed "created" for the model list
_STREAM_PIECES = 8  # content deltas per stream (at least _MIN_PIECE characters each)
_MIN_PIECE = 8

Action = Literal["send", "stream", "hang", "reset", "truncate"]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    action: Action = "send"
    delay_s: float = 0.0
    events: list[bytes] = field(default_factory=list)  # SSE events for action "stream"
    fault: str | None = None  # the injected fault kind, for the stats


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


def _json(status: int, value: Any, headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(value).encode(), headers=headers or [])


def _error(status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
           headers: list[tuple[str, str]] | None = None) -> Reply:
    return Reply(status=status, body=error_body(type_, code, message), headers=headers or [])


def _tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


class App:
    def __init__(self, state: ServerState):
        self.state = state
        self._ids = itertools.count(1)

    def authorized(self, req: Request) -> bool:
        key = self.state.api_key
        return key is None or req.headers.get("authorization") == f"Bearer {key}"

    def handle(self, req: Request, arrived: float | None = None) -> Reply:
        """Route one request; `arrived` is set for chat requests (the state already counts them)."""
        path = req.path
        if not self.authorized(req):
            message = "Incorrect API key provided." if "authorization" in req.headers else \
                "You didn't provide an API key (Authorization: Bearer KEY)."
            return _error(401, message, code="invalid_api_key")
        if path in CHAT_PATHS:
            if req.method != "POST":
                return _error(405, f"Method {req.method} not allowed on {path}; use POST.")
            return self._chat(req, arrived if arrived is not None else time.monotonic())
        if path in ("/v1/models", "/models") and req.method == "GET":
            return _json(200, {"object": "list", "data": [self._model(m) for m in demo_models.MODELS]})
        if path.startswith(("/v1/models/", "/models/")) and req.method == "GET":
            name = path.rsplit("/", 1)[1]
            if name in demo_models.MODELS:
                return _json(200, self._model(name))
            return self._not_found(name)
        if path == "/_assay/stats" and req.method == "GET":
            return _json(200, self.state.stats())
        if path == "/_assay/reset" and req.method == "POST":
            self.state.reset_stats()
            return _json(200, {"ok": True})
        if path == "/_assay/config":
            if req.method == "GET":
                return _json(200, self.state.config())
            if req.method == "POST":
                return self._configure(req.body)
        return _error(404, f"Unknown request URL: {req.method} {path}.", code="unknown_url")

    @staticmethod
    def _model(name: str) -> dict[str, Any]:
        return {"id": name, "object": "model", "created": _CREATED, "owned_by": "assay-demo"}

    @staticmethod
    def _not_found(model: str) -> Reply:
        return _error(404, f"The model `{model}` does not exist or you do not have access to it.",
                      code="model_not_found")

    def _configure(self, body: bytes) -> Reply:
        try:
            options = json.loads(body or b"{}")
            if not isinstance(options, dict):
                raise ValueError("the body must be a JSON object")
            unknown = set(options) - set(HTTP_OPTIONS)
            if unknown:
                raise ValueError(f"unknown option(s) {sorted(unknown)} (allowed: {', '.join(HTTP_OPTIONS)})")
            return _json(200, self.state.configure(**options))
        except RecursionError:
            return _error(400, "The JSON body is nested too deeply.")
        except ValueError as exc:  # json.JSONDecodeError is a ValueError
            return _error(400, str(exc))

    # --- chat completions -----------------------------------------------------------------

    def _chat(self, req: Request, arrived: float) -> Reply:
        try:
            payload = json.loads(req.body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return _error(400, "We could not parse the JSON body of your request. (HINT: This likely means you "
                               "aren't using your HTTP library correctly.)")
        problem = _invalid(payload)
        if problem:
            return _error(400, problem)
        model, messages = payload["model"], payload["messages"]
        if model not in demo_models.MODELS:
            return self._not_found(model)
        users = [m for m in messages if m.get("role") == "user"]
        last_user = demo_models.content_text(users[-1].get("content")) if users else ""
        admission = self.state.admit(model, arrived, last_user)
        if admission.rpm_retry_after is not None:
            limit = self.state.rpm_limit
            wait = admission.rpm_retry_after
            return _error(429, f"Rate limit reached for {model}: limit {limit} requests per minute. "
                               f"Please try again in {wait}s.",
                          type_="rate_limit_exceeded", code="rate_limit_exceeded",
                          headers=[("retry-after", str(wait)), ("x-ratelimit-limit-requests", str(limit)),
                                   ("x-ratelimit-remaining-requests", "0"),
                                   ("x-ratelimit-reset-requests", f"{wait}s")])
        if admission.fault is not None and admission.fault.kind in ERRORS:
            return _fault_error(admission.fault)
        if admission.fault is not None and admission.fault.kind in ("hang", "reset"):
            return Reply(action=admission.fault.kind, fault=admission.fault.kind)
        return self._completion(payload, admission.delay_s, admission.fault)

    def _completion(self, payload: dict[str, Any], delay_s: float, fault: FaultRule | None) -> Reply:
        model, messages = payload["model"], payload["messages"]
        content = demo_models.answer(model, messages)
        if self.state.flips(model, messages):
            prompt = "\n".join(demo_models.content_text(m.get("content")) for m in messages)
            content = flips.wrong_answer(content, prompt)
        finish = "stop"
        limit = payload.get("max_completion_tokens") or payload.get("max_tokens")
        if limit is not None and len(content) > limit * 4:
            content, finish = content[: limit * 4], "length"
        prompt_tokens = _tokens("".join(demo_models.content_text(m.get("content")) for m in messages))
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": _tokens(content),
                 "total_tokens": prompt_tokens + _tokens(content)}
        self.state.add_tokens(usage["prompt_tokens"], usage["completion_tokens"])
        cid = f"chatcmpl-demo{next(self._ids):010d}"
        served = f"{model}-{self.state.model_version}" if self.state.model_version else model
        base = {"id": cid, "created": int(time.time()), "model": served,
                "system_fingerprint": self.state.system_fingerprint}
        headers = [("x-request-id", "req_" + cid.removeprefix("chatcmpl-"))]
        kind = fault.kind if fault is not None else None
        if payload.get("stream"):
            include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
            events = _stream_events(base, content, finish, usage if include_usage else None)
            if kind == "bad_json":
                events = events[:1] + [b'data: {"id": "' + cid.encode() + b'", "choices": [{"delta": {"content": \n\n',
                                       b"data: [DONE]\n\n"]
            return Reply(action="truncate" if kind == "truncate" else "stream", content_type="text/event-stream",
                         headers=headers + [("cache-control", "no-cache")], events=events, delay_s=delay_s, fault=kind)
        body = json.dumps({
            **base, "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content, "refusal": None},
                         "logprobs": None, "finish_reason": finish}],
            "usage": usage,
        }).encode()
        if kind == "bad_json":
            body = body[: len(body) // 3] + b"<!-- upstream proxy error -->"
        return Reply(body=body, headers=headers, delay_s=delay_s, action="truncate" if kind == "truncate" else "send",
                     fault=kind)


def _invalid(payload: Any) -> str | None:
    """Why a chat payload is invalid, or None."""
    if not isinstance(payload, dict):
        return "The request body must be a JSON object."
    if not isinstance(payload.get("model"), str) or not payload["model"]:
        return "you must provide a model parameter"
    messages = payload.get("messages")
    if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
        return "'messages' must be a non-empty array of message objects."
    if payload.get("stream_options") is not None and not isinstance(payload["stream_options"], dict):
        return "Invalid 'stream_options': expected an object."
    for key in ("max_tokens", "max_completion_tokens"):
        value = payload.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            return f"Invalid '{key}': integer below minimum value 1 (got {value!r})."
    return None


def _fault_error(rule: FaultRule) -> Reply:
    status, type_, code, message = ERRORS[rule.kind]
    headers = [("retry-after", rule.retry_after)] if rule.retry_after is not None else []
    return Reply(status=status, body=error_body(type_, code, message), headers=headers, fault=rule.kind)


def _sse(chunk: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def _stream_events(base: dict[str, Any], content: str, finish: str, usage: dict[str, int] | None) -> list[bytes]:
    """OpenAI chat.completion.chunk events: role, content pieces, finish, [usage], [DONE]."""
    head = {**base, "object": "chat.completion.chunk"}
    if usage is not None:
        head["usage"] = None  # OpenAI sends usage: null on every chunk but the last when it is asked for

    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        return _sse({**head, "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                          "finish_reason": finish_reason}]})

    step = max(_MIN_PIECE, math.ceil(len(content) / _STREAM_PIECES))
    events = [chunk({"role": "assistant", "content": ""})]
    events += [chunk({"content": content[i:i + step]}) for i in range(0, len(content), step)]
    events.append(chunk({}, finish))
    if usage is not None:
        events.append(_sse({**head, "choices": [], "usage": usage}))
    events.append(b"data: [DONE]\n\n")
    return events
