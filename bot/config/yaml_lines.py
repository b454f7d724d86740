"""YAML with line numbers and limits: config errors point at the line a key is on, and a
hostile or broken file (billion laughs, deep nesting, binary, unknown tags, bad
indentation) ends in a :class:`YamlError` that says, in the user's terms, what is wrong
and where, quickly and in bounded memory.

The file's size is bounded before parsing; libyaml (when present) turns text into events,
and the composer below turns events into nodes while counting depth, alias uses and the
number of nodes the document has once every alias is expanded, so that nothing downstream
(line map, constructor, ``${VAR}`` substitution, validation) ever walks more than
``MAX_NODES`` nodes."""

from __future__ import annotations

import codecs
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.constructor import SafeConstructor
from yaml.events import AliasEvent
from yaml.resolver import Resolver

try:  # libyaml's parser: fast, and not recursive
    from yaml._yaml import CParser as _Parser  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - PyYAML built without libyaml
    from yaml.parser import Parser as _Parser  # type: ignore[assignment,unused-ignore]

Path_ = tuple[str | int, ...]

MAX_BYTES = 1 << 20
"""A config file of more than 1 MiB is refused unread (a real one is a few KB)."""
MAX_DEPTH = 64
"""Mappings and lists nested deeper than this are refused (a real config nests about 8)."""
MAX_NODES = 20_000
"""Values in the document once every alias is expanded ("billion laughs" stops here)."""
MAX_ALIASES = 1_000
"""Uses of ``*alias`` in one file."""

_YAML = "tag:yaml.org,2002:"
_ALLOWED_TAGS = frozenset(
    _YAML + name
    for name in ("null", "bool", "int", "float", "timestamp", "str", "seq", "map", "merge")
)


_TEXT_KEYS = frozenset(_YAML + name for name in ("null", "bool", "int", "float", "timestamp"))


class YamlError(ValueError):
    """A file that cannot be read as a config, with the place to look when known."""

    def __init__(
        self,
        message: str,
        line: int | None = None,
        column: int | None = None,
        path: Path_ = (),
    ) -> None:
        super().__init__(message)
        self.line = line
        self.column = column
        self.path = path


def decode(data: bytes) -> str:
    """UTF-8 text (a UTF-8 byte-order mark is allowed), or a :class:`YamlError` saying what
    the bytes look like instead."""
    if len(data) > MAX_BYTES:
        raise YamlError(
            f"the file is larger than {_size(MAX_BYTES)}, the most a preprod config may be"
        )
    for bom, name in (
        (codecs.BOM_UTF32_LE, "UTF-32"),
        (codecs.BOM_UTF32_BE, "UTF-32"),
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
    ):
        if data.startswith(bom):
            raise YamlError(f"the file is {name} text; save it as UTF-8")
    data = data.removeprefix(codecs.BOM_UTF8)
    if b"\x00" in data:
        head = data[:512]
        if head and (head[1::2].count(0) > len(head) // 4 or head[0::2].count(0) > len(head) // 4):
            raise YamlError("the file looks like UTF-16 text; save it as UTF-8")
        line, column = _place(data, data.index(b"\x00"))
        raise YamlError(
            "the file is not text (it contains NUL bytes): is this the right file?", line, column
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = _place(data, exc.start)
        byte = data[exc.start]
        raise YamlError(
            f"not UTF-8 text (byte 0x{byte:02x}); save the file as UTF-8 "
            "(it may be in Latin-1 or Windows-1252)",
            line,
            column,
        ) from None


def load_with_lines(text: str) -> tuple[Any, dict[Path_, int]]:
    """Parse YAML and record the 1-based line of every mapping key and list item."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, {}
        lines: dict[Path_, int] = {}
        _record(node, (), lines)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _explain(exc, text) from None
    finally:
        loader.dispose()
    return data, lines


def line_for(lines: dict[Path_, int], path: Path_) -> int | None:
    """The line of ``path`` or of its nearest ancestor present in the file."""
    for end in range(len(path), -1, -1):
        if (found := lines.get(path[:end])) is not None:
            return found
    return None


class _LimitedComposer(Composer):
    """PyYAML's composer, counting as it goes: nesting depth, alias uses, and the size of
    every node with its aliases expanded (an alias to a node still being composed is a
    cycle)."""

    def __init__(self) -> None:
        super().__init__()
        self._depth = 0
        self._aliases = 0
        self._total = 0  # values so far, each alias counted as the size of what it names
        self._sizes: dict[int, int] = {}

    # The parser's methods, mixed in by _Loader.
    check_event: Any
    peek_event: Any

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is None:
                raise YamlError(
                    f"*{event.anchor} refers to no anchor: define &{event.anchor} before using it",
                    *_at(event.start_mark),
                )
            if id(target) not in self._sizes:
                raise YamlError(
                    f"*{event.anchor} is used inside the value it names (&{event.anchor} "
                    f"on line {target.start_mark.line + 1}), which would never end",
                    *_at(event.start_mark),
                )
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise YamlError(
                    f"more than {MAX_ALIASES:,} uses of *aliases; a preprod config needs far fewer",
                    *_at(event.start_mark),
                )
            self._count(self._sizes[id(target)], event.start_mark)
            return super().compose_node(parent, index)
        start = self.peek_event().start_mark
        self._count(1, start)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise YamlError(
                f"mappings and lists are nested more than {MAX_DEPTH} deep; "
                "a preprod config needs far fewer",
                *_at(start),
            )
        try:
            node: Any = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node.tag == _YAML + "value":  # the implicit "=" of YAML 1.1: plain text here
            node.tag = _YAML + "str"
        if node.tag not in _ALLOWED_TAGS:
            tag = node.tag.replace(_YAML, "!!")
            raise YamlError(
                f"unsupported tag {tag}: a preprod config holds plain values "
                "(text, numbers, true/false, lists and mappings), without tags",
                *_at(node.start_mark),
            )
        size = 1
        if isinstance(node, yaml.MappingNode):
            for key, _ in node.value:  # keys are names: `on:`, `1:` and `~:` are text
                if isinstance(key, yaml.ScalarNode) and key.tag in _TEXT_KEYS:
                    key.tag = _YAML + "str"
            size += sum(self._sizes[id(k)] + self._sizes[id(v)] for k, v in node.value)
        elif isinstance(node, yaml.SequenceNode):
            size += sum(self._sizes[id(item)] for item in node.value)
        self._sizes[id(node)] = size
        return node

    def _count(self, values: int, mark: Any) -> None:
        self._total += values
        if self._total > MAX_NODES:
            expanded = " once its *aliases are expanded" if self._aliases else ""
            raise YamlError(
                f"the file holds more than {MAX_NODES:,} values (keys, items and text)"
                f"{expanded}; a preprod config needs far fewer",
                *_at(mark),
            )


class _LimitedConstructor(SafeConstructor):
    def construct_object(self, node: Any, deep: bool = False) -> Any:
        """A scalar its tag cannot read (``2024-13-45``, ``!!int x``, a 5,000-digit
        number) is an error at its line, not a ``ValueError``."""
        try:
            return super().construct_object(node, deep)
        except (ValueError, TypeError, AttributeError, OverflowError) as exc:
            if isinstance(exc, YamlError):
                raise
            kind = {"int": "a number", "float": "a number", "timestamp": "a date"}.get(
                node.tag.removeprefix(_YAML), node.tag.replace(_YAML, "!!")
            )
            shown = str(node.value)
            shown = shown if len(shown) <= 40 else shown[:40] + "..."
            raise YamlError(
                f"cannot read {shown!r} as {kind}; put it in quotes if it is text",
                *_at(node.start_mark),
            ) from None


class _Loader(_LimitedComposer, _Parser, _LimitedConstructor, Resolver):  # type: ignore[misc,valid-type,unused-ignore]
    def __init__(self, text: str) -> None:
        _Parser.__init__(self, text)
        _LimitedComposer.__init__(self)
        _LimitedConstructor.__init__(self)
        Resolver.__init__(self)

    def dispose(self) -> None:
        if hasattr(_Parser, "dispose"):
            _Parser.dispose(self)


def _record(node: yaml.Node, path: Path_, lines: dict[Path_, int]) -> None:
    lines.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        first: dict[Any, int] = {}
        for key, value in node.value:
            name = key.value if isinstance(key, yaml.ScalarNode) else "?"
            line = key.start_mark.line + 1
            if name in first and isinstance(key, yaml.ScalarNode) and key.tag != _YAML + "merge":
                lines_ = (
                    f"on line {line}"
                    if first[name] == line
                    else f"(lines {first[name]} and {line})"
                )
                raise YamlError(
                    f"key {name!r} is given twice {lines_}; keep one",
                    line,
                    key.start_mark.column + 1,
                    (*path, str(name)),
                )
            first[name] = line
            child = (*path, str(name))
            lines[child] = line
            _record(value, child, lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _record(item, (*path, index), lines)


def _explain(exc: yaml.YAMLError, text: str) -> YamlError:
    """PyYAML's and libyaml's parser messages in the user's terms, with a hint."""
    if isinstance(exc, yaml.reader.ReaderError):
        data = text.encode("utf-8", "replace")
        offset = _byte_offset(text, exc.position) if exc.encoding == "unicode" else exc.position
        line, column = _place(data, offset)
        return YamlError(
            f"the file contains the control character U+{exc.character:04X}, which a YAML "
            "file cannot hold: is this the right file?",
            line,
            column,
        )
    if not isinstance(exc, yaml.MarkedYAMLError):
        return YamlError(f"not valid YAML: {exc}")
    problem = exc.problem or ""
    context = exc.context or ""
    line, column = _at(exc.problem_mark) if exc.problem_mark else (0, 0)
    opened = exc.context_mark.line + 1 if exc.context_mark else None
    where = f"line {line}" if line else "this line"

    if (
        "block end" in problem
        or "did not find expected key" in problem
        or ("did not find expected '-'" in problem)
    ):
        block = f" (the block that starts on line {opened})" if opened else ""
        message = (
            f"{where} is not indented like the lines above it{block}: "
            f"check the indentation of {where}; keys of one mapping start in the same "
            "column, and the items of a list all start with '-' in the same column"
        )
    elif "mapping values are not allowed" in problem:
        message = (
            f"unexpected ':' on {where}: check the indentation of {where} and that the line "
            "above it ends its key with ':' (a key cannot sit under a plain value), or put "
            "a value that contains ': ' in quotes"
        )
    elif "could not find expected ':'" in problem:
        key_line = opened or line
        message = (
            f"expected 'key: value' on line {key_line} but found no ':'; add the ':', or put "
            "a value that runs over several lines in quotes"
        )
        line, column = key_line, exc.context_mark.column + 1 if exc.context_mark else column
    elif "tab character" in problem:
        message = f"{where} is indented with a tab: YAML indentation takes spaces only"
    elif "cannot start any token" in problem:
        char = _char_at(text, exc.problem_mark)
        if char == "\t":
            message = f"{where} is indented with a tab: YAML indentation takes spaces only"
        else:
            message = f"a value cannot start with {char!r}: put it in quotes"
    elif "maximum nesting depth" in problem:
        message = (
            f"mappings and lists are nested more than {MAX_DEPTH} deep; "
            "a preprod config needs far fewer"
        )
    elif "flow sequence" in context or "flow mapping" in context:
        bracket = "[" if "sequence" in context else "{"
        closing = "]" if bracket == "[" else "}"
        message = (
            f"the '{bracket}' opened on line {opened} is not closed, or an item in it lacks "
            f"a ',': check for a missing '{closing}' or ','; inside [ ] and {{ }}, text "
            "holding ',', '[', ']', '{', '}' or '${...}' must be in quotes"
        )
    elif "quoted scalar" in context:
        message = (
            f"the quote opened on line {opened} is not closed"
            if "end of stream" in problem or "document separator" in problem
            else f"cannot read this quoted text: {problem}"
        )
    elif "unknown escape" in problem:
        message = (
            "unknown escape sequence in double quotes: write \\\\ for a backslash, or use "
            "single quotes, which take backslashes as they are"
        )
    elif "for merging" in problem:
        message = "'<<:' merges mappings in: give it an *alias of a mapping, or a list of them"
    elif "incompatible YAML document" in problem:
        message = "the %YAML line asks for a YAML version preprod does not read: remove it"
    elif "single document" in context:
        message = (
            f"the file holds more than one YAML document (another starts at {where}); "
            "keep one, without a second '---'"
        )
    elif "duplicate anchor" in context:
        message = f"the same &anchor is defined twice (lines {opened} and {line}); rename one"
    elif "unhashable key" in problem or "unhashable key" in context:
        message = "a key must be plain text, not a list or a mapping"
    elif "could not determine a constructor" in problem:
        message = "unsupported tag: a preprod config holds plain values, without tags"
    else:
        detail = f"{context}: {problem}" if context and problem else context or problem
        message = f"not valid YAML: {detail}"
    return YamlError(message, line or None, column or None)


def _at(mark: Any) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _char_at(text: str, mark: Any) -> str:
    lines = text.splitlines()
    if mark is not None and mark.line < len(lines) and mark.column < len(lines[mark.line]):
        return str(lines[mark.line][mark.column])
    return "?"


def _place(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    start = data.rfind(b"\n", 0, offset) + 1
    column = len(data[start:offset].decode("utf-8", "replace")) + 1
    return data.count(b"\n", 0, offset) + 1, column


def _byte_offset(text: str, position: int) -> int:
    return len(text[:position].encode("utf-8", "replace"))


def _size(count: int) -> str:
    return f"{count / (1 << 20):.1f} MiB" if count >= 1 << 20 else f"{count / 1024:.0f} KiB"
