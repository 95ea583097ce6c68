"""A YAML document that remembers where every key and item came from.

PyYAML's node graph carries marks; we walk it once and keep a path → location index so
that any later complaint ("rules[2].match.status") can point at a line and a column.
Duplicate keys are found here too: PyYAML would silently keep the last one.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field

import yaml

from lifecycle.rules.safeyaml import BoundedLoader

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Mark:
    """A 1-based line and column."""

    line: int
    column: int

    @classmethod
    def from_yaml(cls, mark: yaml.Mark) -> Mark:
        return cls(mark.line + 1, mark.column + 1)


@dataclass(frozen=True)
class Place:
    """Where a mapping entry's key and value, or a sequence item, start."""

    value: Mark
    key: Mark | None = None


@dataclass(frozen=True)
class Duplicate:
    path: Path
    key: Mark
    first_line: int


@dataclass(frozen=True)
class Document:
    """The constructed data plus the location of each path inside it."""

    data: object
    places: Mapping[Path, Place]
    duplicates: tuple[Duplicate, ...] = ()

    def locate(self, path: Path) -> tuple[Path, Place]:
        """The deepest prefix of `path` that exists in the file, and where it is."""
        for end in range(len(path), 0, -1):
            prefix = path[:end]
            place = self.places.get(prefix)
            if place is not None:
                return prefix, place
        return (), self.places[()]


class SyntaxProblem(Exception):
    """The text is not YAML; `mark` is where the parser gave up."""

    def __init__(self, mark: Mark, message: str) -> None:
        super().__init__(message)
        self.mark = mark
        self.message = message


def read_document(text: str) -> Document:
    """Parse one YAML document; raises SyntaxProblem with the parser's location."""
    try:
        loader = BoundedLoader(text)
    except yaml.reader.ReaderError as err:  # a character YAML does not allow, anywhere
        raise _bad_character(text, err) from err
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as err:
        raise _syntax_problem(err) from err
    except yaml.YAMLError as err:
        raise SyntaxProblem(Mark(1, 1), f"invalid YAML: {err}") from err
    finally:
        loader.dispose()
    index = _Index()
    if node is not None:
        index.walk(node, (), Place(Mark.from_yaml(node.start_mark)), depth=0)
    else:
        index.places[()] = Place(Mark(1, 1))
    return Document(data, index.places, tuple(index.duplicates))


_CHARACTER_NAMES = {0x00: "NUL", 0x0C: "form feed", 0x1B: "ESC", 0x7F: "DEL"}


def _bad_character(text: str, err: yaml.reader.ReaderError) -> SyntaxProblem:
    position = err.position
    line = text.count("\n", 0, position) + 1
    column = position - (text.rfind("\n", 0, position) + 1) + 1
    code = err.character if isinstance(err.character, int) else 0
    name = _CHARACTER_NAMES.get(code, "lone surrogate" if 0xD800 <= code <= 0xDFFF else "control")
    message = f"invalid YAML: character U+{code:04X} ({name}) is not allowed in YAML text"
    if code == 0:
        message += "; if the file was saved as UTF-16, save it as UTF-8"
    return SyntaxProblem(Mark(line, column), message)


def _syntax_problem(err: yaml.MarkedYAMLError) -> SyntaxProblem:
    where = err.problem_mark or err.context_mark
    mark = Mark.from_yaml(where) if where is not None else Mark(1, 1)
    message = f"invalid YAML: {err.problem or err.context}"
    if err.context and err.problem and err.context_mark is not None:
        message += f" ({err.context} started at line {err.context_mark.line + 1})"
    return SyntaxProblem(mark, message)


@dataclass
class _Index:
    places: dict[Path, Place] = field(default_factory=dict)
    duplicates: list[Duplicate] = field(default_factory=list)

    def walk(self, node: yaml.Node, path: Path, place: Place, *, depth: int) -> None:
        # Aliases can nest a node inside itself; real rule files are never this deep.
        if depth > 64 or path in self.places:
            return
        self.places[path] = place
        if isinstance(node, yaml.MappingNode):
            self._walk_mapping(node, path, depth=depth)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self.walk(item, (*path, i), Place(Mark.from_yaml(item.start_mark)), depth=depth + 1)

    def _walk_mapping(self, node: yaml.MappingNode, path: Path, *, depth: int) -> None:
        first_seen: dict[Hashable, int] = {}
        for key_node, value_node in node.value:
            key = _key_of(key_node)
            key_mark = Mark.from_yaml(key_node.start_mark)
            if key in first_seen:
                self.duplicates.append(Duplicate((*path, key), key_mark, first_seen[key]))
                continue
            first_seen[key] = key_mark.line
            place = Place(Mark.from_yaml(value_node.start_mark), key_mark)
            self.walk(value_node, (*path, key), place, depth=depth + 1)


def _key_of(node: yaml.Node) -> str:
    """Keys as the loader builds them (the text as written), so pydantic's error
    locations find them."""
    if isinstance(node, yaml.ScalarNode):
        return str(node.value)
    return f"<{type(node).__name__}>"
