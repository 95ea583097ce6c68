"""PyYAML's SafeLoader, bounded and located, for files that people (and fuzzers) edit.

Every way a text can go wrong becomes a `yaml.MarkedYAMLError` pointing at the place,
never another exception and never minutes of work:

- nesting deeper than `MAX_DEPTH` is refused while composing, before Python's recursion
  limit is near (`not:` a thousand levels deep);
- a document of more than `MAX_NODES` values is refused while composing: PyYAML reads
  about 40,000 values a second, so a megabyte of tiny entries (45,000 calendars) took
  ten seconds; bench/bench_check.py's 1,000 realistic rules hold about 17,000;
- aliases may add at most `MAX_ALIAS_NODES` nodes to the document as it would be written
  out in full (a 2 KB "billion laughs" expands to millions), and never contain themselves;
- a scalar that YAML's resolvers cannot turn into a value (`2026-02-30`, `!!bool maybe`,
  an integer thousands of digits long) or a string no file can hold (a `"\\ud800"` escape)
  is an error at that scalar;
- mapping keys are the text as written: YAML 1.1 would make `on:` the boolean true and
  `2026:` an integer, and a calendar or a counter is named by what was typed.
"""

from __future__ import annotations

from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import CollectionNode, MappingNode, Node, ScalarNode

MAX_DEPTH = 32
MAX_ALIAS_NODES = 10_000
MAX_NODES = 50_000
# Larger integers are no count, limit or time a rule needs, and past about 4,300 digits
# Python refuses to parse or print them at all.
_MAX_INT = 2**63


class BoundedLoader(yaml.SafeLoader):
    """A SafeLoader that refuses deep, alias-bombed or unconstructible documents."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._nodes = 0
        self._alias_nodes = 0
        self._size: dict[int, int] = {}  # id(node) → nodes it stands for, written out
        self._height: dict[int, int] = {}  # id(node) → levels of nesting it adds

    def compose_node(self, parent: Node | None, index: int) -> Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[no-untyped-call]
        if isinstance(event, yaml.AliasEvent):
            return self._alias(event)
        if self._depth >= MAX_DEPTH and not isinstance(event, yaml.ScalarEvent):
            raise _error(f"nested more than {MAX_DEPTH} levels deep", event.start_mark)
        self._nodes += 1
        if self._nodes > MAX_NODES:
            message = f"more than {MAX_NODES:,} values in one file (1,000 rules need far fewer)"
            raise _error(message, event.start_mark)
        self._depth += 1
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is None:
            return None
        children = _children(node)
        self._size[id(node)] = 1 + sum(self._size[id(c)] for c in children)
        self._height[id(node)] = 1 + max((self._height[id(c)] for c in children), default=0)
        return node

    def _alias(self, event: yaml.AliasEvent) -> Node | None:
        anchor = event.anchor
        node = self.anchors.get(anchor) if anchor is not None else None
        if node is None:
            return super().compose_node(None, 0)  # PyYAML's own "undefined alias"
        if id(node) not in self._size:
            raise _error(f"alias *{anchor} is used inside its own anchor", event.start_mark)
        if self._depth + self._height[id(node)] > MAX_DEPTH:
            message = f"alias *{anchor} nests more than {MAX_DEPTH} levels deep"
            raise _error(message, event.start_mark)
        self._alias_nodes += self._size[id(node)]
        if self._alias_nodes > MAX_ALIAS_NODES:
            message = f"aliases expand to more than {MAX_ALIAS_NODES} values; write them out"
            raise _error(message, event.start_mark)
        self.get_event()  # type: ignore[no-untyped-call]
        return node

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        """Any failure to build a scalar is an error located at it."""
        if isinstance(node, ScalarNode) and node.tag.endswith(":int") and len(node.value) > 40:
            raise _error(f"{_shown(node)}: number too large", node.start_mark)
        try:
            value = super().construct_object(node, deep=deep)
        except yaml.YAMLError:
            raise
        except (ValueError, TypeError, KeyError, AttributeError, OverflowError) as err:
            tag = str(node.tag).rsplit(":", 1)[-1]
            message = f"cannot read {_shown(node)} as !!{tag}: {_reason(err)}"
            if tag == "timestamp":
                message += " (quote it if it is not meant as a date)"
            raise _error(message, node.start_mark) from err
        return _checked(value, node)

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        """As SafeLoader's, with each scalar key the text as written (see module doc)."""
        if not isinstance(node, MappingNode):  # `!!map x`: PyYAML would fail unlocated
            raise _error(f"{_shown(node)} is not a mapping", node.start_mark)
        self.flatten_mapping(node)
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                key: Any = _checked(str(key_node.value), key_node)
            else:
                key = self.construct_object(key_node, deep=deep)
                if not isinstance(key, str | int | float | bool | None):
                    raise ConstructorError(
                        "while constructing a mapping",
                        node.start_mark,
                        "found a key that is not a plain value",
                        key_node.start_mark,
                    )
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [part for pair in node.value for part in pair]
    if isinstance(node, CollectionNode):
        return list(node.value)
    return []


def _checked(value: object, node: Node) -> object:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise _error(
                f"{_shown(node)} holds a lone surrogate escape (\\ud800-\\udfff): "
                "write the character itself",
                node.start_mark,
            ) from None
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _MAX_INT:
        raise _error("number too large", node.start_mark)
    return value


def _shown(node: Node) -> str:
    if not isinstance(node, ScalarNode):
        return f"this {type(node).__name__.removesuffix('Node').lower()}"
    text = str(node.value)
    shown = repr(text[:40]).encode("ascii", "backslashreplace").decode()
    return shown if len(text) <= 40 else shown + "…"


def _reason(err: Exception) -> str:
    if isinstance(err, KeyError):
        return "not a value of that type"
    return str(err).split("\n", 1)[0] or type(err).__name__


def _error(message: str, mark: Any) -> ConstructorError:
    return ConstructorError(None, None, message, mark)
