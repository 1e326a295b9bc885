"""The one way screens run blocking work, and the one place its failures surface.

`@background(group=...)` is Textual's thread worker with `exit_on_error=False`: an exception that
escapes the worker never closes the app. Instead the worker posts `WorkerFailed` to the app, whose
handler (`AssayApp.on_worker_failed`) shows it in a dialog: an `AssayError` with its own message
(a bad file, a missing dataset: the user can act on it), anything else classified as an
unexpected error with its type. Screens keep "workers post, handlers mutate" and catch only the
errors they present specially (for example on a form field).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from textual import work
from textual.message import Message

from core.errors import AssayError

F = TypeVar("F", bound=Callable[..., Any])


class WorkerFailed(Message):
    """A background worker raised; carries the exception to the app's one error handler."""

    def __init__(self, error: BaseException) -> None:
        super().__init__()
        self.error = error


def describe_error(error: BaseException) -> tuple[str, str]:
    """(title, message) for an error dialog; the dialog renders both as plain text."""
    if isinstance(error, AssayError):
        return "Could not do that", error.message
    return "Unexpected error", f"{type(error).__name__}: {error}" if str(error) else type(error).__name__


def background(*, group: str, exclusive: bool = False) -> Callable[[F], F]:
    """Run the decorated method in a thread worker whose failures reach the app's error dialog."""
    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def body(node: Any, *args: Any, **kwargs: Any) -> Any:
            try:
                return fn(node, *args, **kwargs)
            except Exception as exc:
                node.app.post_message(WorkerFailed(exc))  # thread-safe; the handler runs on the UI thread
                raise  # the worker ends in the ERROR state (exit_on_error=False: the app stays up)

        return work(thread=True, exit_on_error=False, group=group, exclusive=exclusive)(body)  # type: ignore[return-value]

    return decorate
