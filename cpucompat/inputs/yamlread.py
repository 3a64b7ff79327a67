"""YAML inventories read safely, with libyaml's C parser where available.

PyYAML's safe loader, changed so that inventories read as written and
cannot make the reader work or allocate out of proportion to the file:

* mapping keys are read as written (PyYAML turns ``no:`` into False and
  ``0123`` into 83) and a key given twice is kept visible (PyYAML keeps
  the last silently): the mapping is a `RepeatedKeys`;
* anchors and aliases are refused: an alias lets a few bytes stand for any
  amount of data (and ``<<: *a`` merges copy it), so a host is written
  out, as in JSON;
* an integer too long for Python to read, or a text past
  MAX_VALUE_CHARS, becomes an `Unreadable` naming its place, so only the
  host holding it is unreadable;
* a file larger than MAX_YAML_BYTES is refused before parsing (YAML is
  read whole, at ~60 bytes of memory per byte of text; JSON inventories
  are read a host at a time and have no such limit);
* every error is one line naming the place (line, column).

libyaml's parser (``yaml.CSafeLoader``) reads 3.5 MB in seconds where the
pure-Python one takes 17 s; the rules above are the constructor's, which
both share.
"""
from __future__ import annotations

import contextlib
import functools
import gc
from collections.abc import Iterator
from typing import Any

from ..display import shown
from ..errors import InvalidInventory
from .jsonstream import MAX_VALUE_CHARS, Unreadable, mapping_of

__all__ = ["MAX_YAML_BYTES", "read_yaml"]

MAX_YAML_BYTES = 8 << 20  # ~30,000 hosts; a larger fleet fits a JSON inventory
TOO_DEEP = "nested too deeply to be read"


@functools.lru_cache(maxsize=2)
def _loader(libyaml: bool = True) -> type:
    import yaml

    # libyaml's parser for the events, PyYAML's composer (Python: deep
    # nesting is a RecursionError, where libyaml's composer overflows the C
    # stack) and safe constructor for the values
    try:
        if not libyaml:
            raise ImportError("the pure-Python parser is asked for")
        from yaml._yaml import CParser
        events: tuple[type, ...] = (CParser,)
    except ImportError:  # PyYAML built without libyaml
        events = (yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser)

    class Loader(yaml.composer.Composer, *events, yaml.constructor.SafeConstructor,  # type: ignore[misc]
                 yaml.resolver.Resolver):  # type: ignore[misc]
        def __init__(self, stream: str) -> None:
            if events[0] is not yaml.reader.Reader:
                events[0].__init__(self, stream)  # type: ignore[misc]
            else:
                yaml.reader.Reader.__init__(self, stream)  # type: ignore[misc]
                yaml.scanner.Scanner.__init__(self)
                yaml.parser.Parser.__init__(self)
            yaml.composer.Composer.__init__(self)
            yaml.constructor.SafeConstructor.__init__(self)
            yaml.resolver.Resolver.__init__(self)
            self.noted: list[bool] = []  # True once a mapping gave a key twice
            self.unreadable = False  # some value is an Unreadable

        def compose_node(self, parent: Any, index: Any) -> Any:
            if self.check_event(yaml.AliasEvent):
                event = self.peek_event()
                raise yaml.composer.ComposerError(
                    None, None, f"found an alias (*{shown(event.anchor, 40)}): anchors and aliases are not read "
                    "(an alias can stand for any amount of data); write each host out", event.start_mark)
            return super().compose_node(parent, index)

        def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
            if isinstance(node, yaml.ScalarNode) and len(node.value) > MAX_VALUE_CHARS:
                return self._unreadable(node, f"a text larger than {MAX_VALUE_CHARS >> 20} MiB")
            try:
                return super().construct_object(node, deep)
            except ValueError:  # an integer of thousands of digits, a date out of range
                kind = node.tag.rsplit(":", 1)[-1]
                return self._unreadable(node, f"an integer of {len(node.value)} characters, too long to read"
                                        if kind == "int" else f"{shown(node.value, 40)!r}, not a valid {kind}")

        def _unreadable(self, node: yaml.Node, what: str) -> Unreadable:
            self.unreadable = True
            mark = node.start_mark
            return Unreadable(f"{what} (line {mark.line + 1} column {mark.column + 1})")

        def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[str, Any]:
            if not isinstance(node, yaml.MappingNode):
                raise yaml.constructor.ConstructorError(None, None, f"expected a mapping, found {node.id}",
                                                        node.start_mark)
            own = sum(1 for key, _ in node.value if key.tag != "tag:yaml.org,2002:merge")
            self.flatten_mapping(node)  # merged (<<) pairs first, then the mapping's own
            cut = len(node.value) - own
            pairs = []
            for key_node, value_node in node.value[cut:]:
                if not isinstance(key_node, yaml.ScalarNode):
                    raise yaml.constructor.ConstructorError("while reading a mapping", node.start_mark,
                                                            "found a key that is not a plain value",
                                                            key_node.start_mark)
                pairs.append((key_node.value, self.construct_object(value_node, deep=True)))
            mapping = mapping_of(pairs, self.noted)
            for key_node, value_node in reversed(node.value[:cut]):  # the first merged mapping wins
                if isinstance(key_node, yaml.ScalarNode) and key_node.value not in mapping:
                    mapping[key_node.value] = self.construct_object(value_node, deep=True)
            return mapping

    Loader.add_constructor("tag:yaml.org,2002:map", lambda loader, node: loader.construct_mapping(node))
    return Loader


# libyaml refuses a "\ud800" escape that PyYAML's own parser reads as a
# lone surrogate: such a file is read again by the latter, so that both
# read the same files
_LIBYAML_ONLY = "invalid Unicode character escape code"


def read_yaml(text: str, source: str, *, libyaml: bool = True) -> tuple[Any, bool, bool]:
    """The YAML document in `text`, whether some mapping in it gave a key
    twice, and whether some value in it is an `Unreadable`.

    Raises InvalidInventory naming `source` and the place for a file too
    large, invalid YAML, an alias, or nesting too deep to read.
    """
    try:
        import yaml
    except ImportError:
        raise InvalidInventory("YAML inventories need PyYAML (pip install pyyaml)", source=source) from None
    if len(text) > MAX_YAML_BYTES:
        raise InvalidInventory(f"a YAML inventory is read whole, so at most {MAX_YAML_BYTES >> 20} MiB: "
                               "give a larger fleet as JSON (read a host at a time)", source=source)
    loader = None
    try:
        loader = _loader(libyaml)(text)
        with _no_collection():
            node = loader.get_single_node()
            if node is None:
                return None, False, False
            return loader.construct_document(node), bool(loader.noted), loader.unreadable
    except yaml.MarkedYAMLError as exc:
        if libyaml and _LIBYAML_ONLY in str(exc.problem):
            return read_yaml(text, source, libyaml=False)
        mark = exc.problem_mark or exc.context_mark
        place = f"line {mark.line + 1} column {mark.column + 1}: " if mark is not None else ""
        problem = " ".join(str(part) for part in (exc.context, exc.problem) if part) or "not YAML"
        raise InvalidInventory(f"invalid YAML: {place}{shown(problem)}", source=source) from None
    except yaml.YAMLError as exc:  # a character YAML does not allow, an encoding error
        reason = getattr(exc, "reason", None) or str(exc).splitlines()[0]
        position = getattr(exc, "position", None)
        place = f"character {position}: " if position is not None else ""
        character = getattr(exc, "character", None)
        number = ord(character) if isinstance(character, str) else character
        code = f" (#x{number:04x})" if character is not None else ""
        raise InvalidInventory(f"invalid YAML: {place}{shown(reason)}{code}", source=source) from None
    except RecursionError:  # PyYAML composes and builds nested collections recursively
        raise InvalidInventory(f"invalid YAML: {TOO_DEEP}", source=source) from None
    finally:
        if loader is not None:
            loader.dispose()


@contextlib.contextmanager
def _no_collection() -> Iterator[None]:
    """The cyclic garbage collector paused: a document's hundreds of
    thousands of nodes make each collection rescan them all (3.5 MB took
    9 s to compose, 2 s without), and nodes form no cycles to collect."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

