"""The one writer of assay.toml: edits that keep the user's comments, key order and formatting.

    doc = ConfigDocument.read(ws.config_path)
    doc.set_model("gpt", {"model": "openai/gpt-4o-mini", "api_key_env": "OPENAI_API_KEY"})
    doc.save()

Every edit is made on the text through tomlkit (a style-preserving TOML library), then the whole
resulting file is read back with tomllib and validated exactly as `load_config` does; an edit that
would not load is refused with the file and the dotted key, and the document stays as it was.
`save()` writes atomically and refuses when the file changed on disk since it was read, so an
edit made in an editor meanwhile is never overwritten. Files written from scratch (the starter
file, exports) do not come through here.

Comments between tables belong, in tomlkit's model, to the table above them: the commented-out
examples and section headings after `[models.demo-fast]` live inside that table. This module
treats the comment lines after a table's last key as the start of whatever follows it: an added
table goes before them, a deleted table leaves them in place.
"""

from __future__ import annotations

import contextlib
import hashlib
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomlkit
from pydantic import BaseModel
from tomlkit.container import OutOfOrderTableProxy
from tomlkit.items import Comment, Item, Table, Whitespace

from core.common.files import atomic_write
from core.config.schema import ModelConfig, PromptConfig, PromptVariant, WorkspaceConfig, parse_config
from core.errors import ConfigError

# Sub-keys whose value is a table of named tables ([prompts.NAME.tasks.TYPE]); any other mapping
# value (a model's `params`) is written inline, as the starter file shows it.
_NESTED_TABLES = {"prompts": ("tasks",)}


def _fingerprint(path: Path) -> str | None:
    """sha256 of the file's bytes; None when there is no file."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        return None


def _fields(value: BaseModel | Mapping[str, Any]) -> dict[str, Any]:
    """What goes into the file: the keys the user set, not the defaults they would inherit."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True, exclude_defaults=True)
    return dict(value)


@dataclass
class ConfigDocument:
    """assay.toml as read: its text (kept exactly) and the fingerprint of the bytes it came from."""

    path: Path
    text: str
    fingerprint: str | None  # None: the file did not exist

    @classmethod
    def read(cls, path: Path) -> ConfigDocument:
        """Read and validate the file (a missing file is an empty one: every default)."""
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            raw = None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", file=str(path)) from None
        try:
            text = "" if raw is None else raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8: {exc}", file=str(path)) from None
        doc = cls(path, text, None if raw is None else hashlib.sha256(raw).hexdigest())
        doc.config()
        return doc

    def data(self) -> dict[str, Any]:
        """The document's plain TOML data, as written (no defaults filled in)."""
        return tomllib.loads(self.text)

    def config(self) -> WorkspaceConfig:
        """The document as the loader sees it (validated)."""
        return _validated(self.text, self.path)

    def changed_on_disk(self) -> bool:
        """Whether the file was changed (or created, or removed) since this document was read."""
        return _fingerprint(self.path) != self.fingerprint

    def save(self) -> None:
        """Write the document atomically; refuses when the file changed on disk since it was read."""
        if self.changed_on_disk():
            raise ConfigError("changed on disk since it was read; nothing was written (reload it and "
                              "make the change again)", file=str(self.path))
        atomic_write(self.path, self.text)
        self.fingerprint = hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    # --- edits: each is validated as a whole file, and refused (document unchanged) if invalid ----

    def set_model(self, name: str, model: ModelConfig | Mapping[str, Any]) -> None:
        """Add [models.NAME], or replace its keys (keys kept keep their place and comments)."""
        self._edit(lambda doc: _set_named(doc, "models", name, _fields(model)))

    def rename_model(self, old: str, new: str) -> None:
        """Rename [models.OLD] in place. References to it ([judge] model) are not rewritten: the
        edit is refused while they would dangle."""
        self._edit(lambda doc: _rename_named(doc, "models", old, new))

    def duplicate_model(self, name: str, new: str) -> None:
        """A copy of [models.NAME] (its values, not its comments) as [models.NEW], last in [models]."""
        self._edit(lambda doc: _duplicate_named(doc, "models", name, new))

    def delete_model(self, name: str) -> None:
        self._edit(lambda doc: _delete_named(doc, "models", name))

    def set_prompt(self, name: str, prompt: PromptConfig | Mapping[str, Any]) -> None:
        """Add [prompts.NAME] or replace it, its per-task variants ([prompts.NAME.tasks.TYPE]) included."""
        self._edit(lambda doc: _set_named(doc, "prompts", name, _fields(prompt)))

    def set_prompt_task(self, name: str, task_type: str, variant: PromptVariant | Mapping[str, Any] | None) -> None:
        """Set (or, with None, remove) one per-task variant of an existing prompt."""
        def edit(doc: tomlkit.TOMLDocument) -> None:
            prompt = _named(doc, "prompts", name).unwrap()
            tasks = dict(prompt.get("tasks", {}))
            if variant is None:
                if task_type not in tasks:
                    raise _Refused(f"prompts.{name}.tasks.{task_type}", f"no [prompts.{name}.tasks.{task_type}] section")
                del tasks[task_type]
            else:
                tasks[task_type] = _fields(variant)
            _set_named(doc, "prompts", name, {**prompt, "tasks": tasks} if tasks else
                       {k: v for k, v in prompt.items() if k != "tasks"})

        self._edit(edit)

    def rename_prompt(self, old: str, new: str) -> None:
        """Rename [prompts.OLD] in place; refused while [run] prompt still names OLD."""
        self._edit(lambda doc: _rename_named(doc, "prompts", old, new))

    def duplicate_prompt(self, name: str, new: str) -> None:
        self._edit(lambda doc: _duplicate_named(doc, "prompts", name, new))

    def delete_prompt(self, name: str) -> None:
        self._edit(lambda doc: _delete_named(doc, "prompts", name))

    def set_value(self, section: str, key: str, value: Any) -> None:
        """Set one key of a top-level table ([run], [judge], [labeling]); the table is added if missing."""
        def edit(doc: tomlkit.TOMLDocument) -> None:
            table = _section(doc, section, create=tomlkit.table)
            if key in table and table[key].unwrap() == value:
                return  # unchanged: keep its formatting
            with _trailer_kept(table):
                table[key] = value

        self._edit(edit)

    def _edit(self, change: Callable[[tomlkit.TOMLDocument], None]) -> None:
        doc = tomlkit.parse(self.text)
        try:
            change(doc)
        except _Refused as exc:
            raise ConfigError(exc.problem, file=str(self.path), key=exc.key) from None
        text = doc.as_string()
        _validated(text, self.path)
        self.text = text


class _Refused(Exception):
    """An edit that cannot be made as asked; ConfigDocument names the file."""

    def __init__(self, key: str, problem: str) -> None:
        super().__init__(problem)
        self.key, self.problem = key, problem


def _validated(text: str, path: Path) -> WorkspaceConfig:
    """The loader's own reading: tomllib, then parse_config (errors name the file and the key)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"invalid TOML: {exc}", file=str(path)) from None
    return parse_config(data, file=str(path))


# --- named tables ([models.NAME], [prompts.NAME]) ---------------------------------------------------


def _section(doc: tomlkit.TOMLDocument, section: str, create: Callable[[], Table] | None = None) -> Table | None:
    """A top-level table; a missing one is added (with `create`) or None."""
    if section not in doc:
        if create is None:
            return None
        _append_table(doc, section, create())
    table = doc[section]
    if isinstance(table, OutOfOrderTableProxy):
        raise _Refused(section, f"the [{section}] tables are split up by other tables; put them together "
                                "in an editor to edit them here")
    if not isinstance(table, Table):
        raise _Refused(section, "written inline; write it as [tables] in an editor to edit it here")
    return table


def _named(doc: tomlkit.TOMLDocument, section: str, name: str) -> Table:
    parent = _section(doc, section)
    if parent is None or name not in parent:
        raise _Refused(f"{section}.{name}", f"no [{section}.{name}] section")
    table = parent[name]
    if not isinstance(table, Table):
        raise _Refused(f"{section}.{name}", "written inline; write it as a [table] in an editor to edit it here")
    return table


def _unused(doc: tomlkit.TOMLDocument, section: str, name: str) -> Table:
    """The section, after checking that [section.name] does not exist yet."""
    parent = _section(doc, section, create=lambda: tomlkit.table(is_super_table=True))
    if name in parent:
        raise _Refused(f"{section}.{name}", f"[{section}.{name}] already exists")
    return parent


def _set_named(doc: tomlkit.TOMLDocument, section: str, name: str, fields: dict[str, Any]) -> None:
    nested = _NESTED_TABLES.get(section, ())
    parent = _section(doc, section)
    if parent is not None and name in parent:
        _update(doc, _named(doc, section, name), fields, nested)
    else:
        _add_last(_unused(doc, section, name), name, _build(fields, nested))


def _rename_named(doc: tomlkit.TOMLDocument, section: str, old: str, new: str) -> None:
    _named(doc, section, old)
    if old == new:
        return
    parent = _unused(doc, section, new)
    # Re-adding the tables from OLD onwards keeps the order (and each table's own lines).
    keys = list(parent)
    moved = [(k, parent[k]) for k in keys[keys.index(old):]]
    for k, _ in moved:
        del parent[k]
    for k, table in moved:
        indent = table.trivia.indent  # tomlkit gives a re-added table a blank line of its own
        parent[new if k == old else k] = table
        table.trivia.indent = indent


def _duplicate_named(doc: tomlkit.TOMLDocument, section: str, name: str, new: str) -> None:
    source = _named(doc, section, name).unwrap()
    _add_last(_unused(doc, section, new), new, _build(source, _NESTED_TABLES.get(section, ())))


def _delete_named(doc: tomlkit.TOMLDocument, section: str, name: str) -> None:
    table = _named(doc, section, name)
    parent = _section(doc, section)
    _delete_table(doc, parent, name, table)
    if not parent:
        del doc[section]


def _delete_table(doc: tomlkit.TOMLDocument, parent: Table, key: str, table: Table) -> None:
    """Remove a table and its keys; the comment lines after its last key stay where they were."""
    trailer = _take_trailer(table)
    before, after = _neighbours(doc, table)
    del parent[key]
    rest = _split_lead(trailer)[1]
    if not rest or (before is not None and _ends_blank(before)):
        trailer = rest  # the blank lines that set the table apart go with it
    if after is None and not trailer:
        if before is not None:
            _take_trailing_blanks(before)  # the file ends where the last table's keys end
    elif before is not None and _last_table(before) is None:
        _give(before, trailer)
    elif after is not None:
        # The lines above `after`'s header are rendered from its header's leading trivia.
        after.trivia.indent = "".join(item.as_string() for item in trailer) + after.trivia.indent
    else:
        for item in trailer:  # no table left after it: the document's end is where they were
            doc.add(item)


# --- building and updating tables ---------------------------------------------------------------


def _build(fields: Mapping[str, Any], nested: tuple[str, ...]) -> Table:
    table = tomlkit.table()
    for key, value in fields.items():
        table.add(key, _value(key, value, nested))
    return table


def _value(key: str, value: Any, nested: tuple[str, ...]) -> Any:
    if key in nested and isinstance(value, Mapping):
        sub = tomlkit.table(is_super_table=True)
        for name, fields in value.items():
            sub.add(name, _build(fields, ()))
        return sub
    if isinstance(value, Mapping):
        inline = tomlkit.inline_table()
        inline.update(value)
        return inline
    return value


def _update(doc: tomlkit.TOMLDocument, table: Table, fields: Mapping[str, Any], nested: tuple[str, ...]) -> None:
    """Make `table` hold exactly `fields`: unchanged keys are left as written, changed ones take the
    new value in place (their line's comment kept), new ones are added after the last key."""
    with _trailer_kept(table):
        for key in [k for k in table if k not in fields]:
            if isinstance(table[key], Table):
                _delete_table(doc, table, key, table[key])
            else:
                del table[key]
        for key, value in fields.items():
            current = table.get(key)
            if current is not None and current.unwrap() == value:
                continue
            if key in nested and isinstance(current, Table) and isinstance(value, Mapping):
                for name in [n for n in current if n not in value]:
                    _delete_table(doc, current, name, current[name])
                for name, sub in value.items():
                    if name in current:
                        _update(doc, current[name], sub, ())
                    else:
                        _add_last(current, name, _build(sub, ()))
            else:
                table[key] = _value(key, value, nested)


def _add_last(parent: Table, name: str, table: Table) -> None:
    """Add `table` after the last table of `parent`: right after its keys, before the comment lines
    that follow them (they introduce what comes next), with the same blank lines between."""
    last = _last_table(parent)
    if last is None:
        parent[name] = table
        return
    lead, rest = _split_lead(_take_trailer(last))
    _give(last, lead or [tomlkit.ws("\n")])
    parent[name] = table
    _give(table, [Whitespace(w.as_string()) for w in lead] + rest)


def _append_table(doc: tomlkit.TOMLDocument, key: str, table: Table) -> None:
    """A new top-level table at the end of the document, after a blank line."""
    text = doc.as_string()
    if text.strip() and not text.endswith("\n\n"):
        _give(doc, [tomlkit.nl()])
    doc.add(key, table)


# --- where comment lines live ------------------------------------------------------------------


@contextlib.contextmanager
def _trailer_kept(table: Table) -> Iterator[None]:
    """Detach the comment lines after a table's last key for the duration of an edit, then put them
    back after its (possibly new) last key."""
    trailer = _take_trailer(table)
    yield
    _give(table, trailer)


def _children(container: Any) -> list[Table]:
    return [item for key, item in _body(container) if key is not None and isinstance(item, Table)]


def _last_table(container: Any) -> Table | None:
    tables = _children(container)
    return tables[-1] if tables else None


def _last_leaf(container: Any) -> Any:
    """The table (or the document) whose body is rendered last under `container`."""
    while (last := _last_table(container)) is not None:
        container = last
    return container


def _body(container: Any) -> list[tuple[Any, Item]]:
    return container.value.body if isinstance(container, Table) else container.body


def _take_trailer(table: Table) -> list[Item]:
    """Remove and return the comment and blank lines after the last key rendered under `table`."""
    body = _body(_last_leaf(table))
    n = len(body)
    while n and body[n - 1][0] is None and isinstance(body[n - 1][1], (Comment, Whitespace)):
        n -= 1
    trailer = [item for _, item in body[n:]]
    del body[n:]  # keyless items only: tomlkit's key index is untouched
    return trailer


def _take_trailing_blanks(table: Table) -> None:
    body = _body(_last_leaf(table))
    while body and body[-1][0] is None and isinstance(body[-1][1], Whitespace):
        body.pop()


def _give(container: Any, items: list[Item]) -> None:
    leaf = _last_leaf(container)
    for item in items:
        leaf.add(item)


def _split_lead(items: list[Item]) -> tuple[list[Item], list[Item]]:
    """(the blank lines at the start, the rest)."""
    n = 0
    while n < len(items) and isinstance(items[n], Whitespace):
        n += 1
    return items[:n], items[n:]


def _ends_blank(table: Table) -> bool:
    """Whether the table's own lines (those before its sub-tables) end with a blank line."""
    own = [(key, item) for key, item in _body(table) if not isinstance(item, Table)]
    return bool(own) and own[-1][0] is None and isinstance(own[-1][1], Whitespace)


def _walk(container: Any) -> Iterator[Table]:
    """Every table under `container`, in the order they are rendered."""
    for table in _children(container):
        yield table
        yield from _walk(table)


def _neighbours(doc: tomlkit.TOMLDocument, target: Table) -> tuple[Table | None, Table | None]:
    """The tables with a header rendered just before `target` and just after it (and its sub-tables)."""
    inside = {id(t) for t in _walk(target)}
    before = None
    seen = False
    for table in _walk(doc):
        if table is target:
            seen = True
        elif table.is_super_table() or id(table) in inside:
            continue
        elif seen:
            return before, table
        else:
            before = table
    return before, None
