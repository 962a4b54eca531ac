"""The results file's JSON Schema (results.schema.json, beside this module) and its checks.

jsonschema is the reference implementation but takes ~4 ms per record: ~45 s for the whole grid's
file (12000 records, 18 MB). Records are therefore checked by `compile_schema`, which turns the
schema into Python source once, a function per definition with the keywords as plain statements
(~0.05 ms per record), and jsonschema is asked only about the document's small top level and, for
the first record the fast check refuses, for a message that says why. `tests/test_results_schema.py`
and `tests/test_properties_reports.py` check that the two agree. The compiler knows the keywords
this schema uses and refuses any other, so a schema change it does not understand fails loudly
instead of passing everything.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from importlib import resources
from itertools import count
from typing import Any

Check = Callable[[Any], bool]
SCHEMA_FILE = "results.schema.json"
MAX_MESSAGE = 400  # a wrong value may be a whole record: say what is wrong, not all of it

# Keywords that only annotate: nothing to check. "format" is one unless a format checker is asked
# for (jsonschema's default too); the timestamps' "pattern" checks their form anyway.
ANNOTATIONS = frozenset({"$schema", "$id", "$defs", "title", "description", "format"})
OBJECT_KEYWORDS = frozenset(
    {"required", "properties", "additionalProperties", "dependentRequired"}
    | {"minProperties", "maxProperties"}
)
KNOWN_KEYWORDS = ANNOTATIONS | OBJECT_KEYWORDS | {
    "$ref", "type", "const", "enum", "allOf", "anyOf", "not", "if", "then", "else",
    "items", "minItems", "maxItems", "minimum", "minLength", "pattern",
}  # fmt: skip
# A JSON type as a Python expression of `{v}`; bool is no number (JSON has no such overlap).
TYPE_TESTS = {
    "object": "isinstance({v}, dict)",
    "array": "isinstance({v}, list)",
    "string": "isinstance({v}, str)",
    "number": "(isinstance({v}, (int, float)) and not isinstance({v}, bool))",
    "integer": "((isinstance({v}, int) and not isinstance({v}, bool))"
    " or (isinstance({v}, float) and {v}.is_integer()))",
    "boolean": "isinstance({v}, bool)",
    "null": "{v} is None",
}
IS_NUMBER = TYPE_TESTS["number"]


def schema() -> dict:
    """The schema, from the installed package (package data, not the repository's docs)."""
    return json.loads(resources.files(__package__).joinpath(SCHEMA_FILE).read_text("utf-8"))


def json_equal(a: Any, b: Any) -> bool:
    """Equality as JSON Schema means it: 1 == 1.0, but true is not 1 and "1" is not 1."""
    if a is b:  # as jsonschema: the same object is equal to itself, a NaN included
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


class _Compiler:
    """Python source for a schema: `body` writes the statements that `return False` when `{v}` is
    invalid, inline where a failure fails the whole (properties, items, allOf, then/else), and as
    a call to a function of its own where it does not (anyOf, not, the condition of if) or where
    the schema says so ($ref). Values the source needs (sets, patterns) are passed as names."""

    def __init__(self, root: dict):
        self.root = root
        self.functions: dict[str, str] = {}  # name -> source
        self.by_key: dict[Any, str] = {}  # a $ref or id(node) -> function name
        self.constants: dict[str, Any] = {}
        self.names = count()

    def name(self, prefix: str) -> str:
        return f"{prefix}{next(self.names)}"

    def constant(self, value: Any) -> str:
        name = self.name("c")
        self.constants[name] = value
        return name

    def function(self, node: Any, key: Any = None) -> str:
        """The name of a function that returns whether its argument is valid against `node`."""
        key = id(node) if key is None else key
        if key not in self.by_key:
            name = self.by_key[key] = self.name("f")  # before the body: a cycle calls it by name
            lines = [f"def {name}(v):", *self.body(node, "v", 1), "    return True"]
            self.functions[name] = "\n".join(lines)
        return self.by_key[key]

    def reference(self, ref: str) -> str:
        definitions = self.root.get("$defs", {})
        if ref == "#":
            return self.function(self.root, ref)
        if ref.startswith("#/$defs/") and ref[8:] in definitions:
            return self.function(definitions[ref[8:]], ref)
        raise ValueError(f"unsupported $ref {ref!r}")

    def body(self, node: Any, v: str, depth: int) -> list[str]:
        pad = "    " * depth
        if node is True:
            return []
        if node is False:
            return [f"{pad}return False"]
        unknown = node.keys() - KNOWN_KEYWORDS
        if unknown:
            raise ValueError(f"the results schema uses {sorted(unknown)}, which is not compiled")
        lines: list[str] = []
        fail = f"{pad}    return False"
        if "type" in node:
            names = [node["type"]] if isinstance(node["type"], str) else node["type"]
            tests = " or ".join(TYPE_TESTS[n].format(v=v) for n in names)
            lines += [f"{pad}if not ({tests}):", fail]
        for keyword in ("const", "enum"):
            if keyword in node:
                options = [node["const"]] if keyword == "const" else node["enum"]
                if all(isinstance(o, str) for o in options):  # the common case: one set lookup
                    test = f"isinstance({v}, str) and {v} in {self.constant(frozenset(options))}"
                else:
                    test = f"any(json_equal({v}, o) for o in {self.constant(options)})"
                lines += [f"{pad}if not ({test}):", fail]
        if "$ref" in node:
            lines += [f"{pad}if not {self.reference(node['$ref'])}({v}):", fail]
        lines += self.object_body(node, v, depth)
        lines += self.value_body(node, v, depth)
        for part in node.get("allOf", ()):
            lines += self.body(part, v, depth)
        if "anyOf" in node:
            tests = " or ".join(f"{self.function(part)}({v})" for part in node["anyOf"])
            lines += [f"{pad}if not ({tests}):", fail]
        if "not" in node:
            lines += [f"{pad}if {self.function(node['not'])}({v}):", fail]
        if "if" in node:
            then = self.body(node.get("then", True), v, depth + 1) or [f"{pad}    pass"]
            otherwise = self.body(node.get("else", True), v, depth + 1) or [f"{pad}    pass"]
            lines += [f"{pad}if {self.function(node['if'])}({v}):", *then, f"{pad}else:"]
            lines += otherwise
        return lines

    def object_body(self, node: dict, v: str, depth: int) -> list[str]:
        if not OBJECT_KEYWORDS & node.keys():
            return []
        pad, inner = "    " * depth, "    " * (depth + 1)
        lines = [f"{pad}if isinstance({v}, dict):"]
        if node.get("required"):
            lines += [f"{inner}if not {v}.keys() >= {self.constant(frozenset(node['required']))}:"]
            lines += [f"{inner}    return False"]
        if "minProperties" in node:
            lines += [
                f"{inner}if len({v}) < {int(node['minProperties'])}:",
                f"{inner}    return False",
            ]
        if "maxProperties" in node:
            lines += [
                f"{inner}if len({v}) > {int(node['maxProperties'])}:",
                f"{inner}    return False",
            ]
        for key, needs in node.get("dependentRequired", {}).items():
            lines += [
                f"{inner}if {key!r} in {v} and not {v}.keys() >= {self.constant(frozenset(needs))}:"
            ]
            lines += [f"{inner}    return False"]
        for key, sub in node.get("properties", {}).items():
            item = self.name("x")
            sub_lines = self.body(sub, item, depth + 2)
            if sub_lines:
                lines += [f"{inner}{item} = {v}.get({key!r}, MISSING)"]
                lines += [f"{inner}if {item} is not MISSING:", *sub_lines]
        extra = node.get("additionalProperties", True)
        known = self.constant(frozenset(node.get("properties", {})))
        if extra is False:
            lines += [f"{inner}if not {v}.keys() <= {known}:", f"{inner}    return False"]
        elif extra is not True:
            key, item = self.name("k"), self.name("x")
            lines += [
                f"{inner}for {key}, {item} in {v}.items():",
                f"{inner}    if {key} not in {known}:",
            ]
            lines += self.body(extra, item, depth + 3) or [f"{inner}        pass"]
        return lines if len(lines) > 1 else []

    def value_body(self, node: dict, v: str, depth: int) -> list[str]:
        pad, fail = "    " * depth, "    " * (depth + 1) + "return False"
        lines = []
        if "items" in node:
            item = self.name("x")
            sub_lines = self.body(node["items"], item, depth + 2)
            if sub_lines:
                lines += [
                    f"{pad}if isinstance({v}, list):",
                    f"{pad}    for {item} in {v}:",
                    *sub_lines,
                ]
        if "minItems" in node:
            lines += [
                f"{pad}if isinstance({v}, list) and len({v}) < {int(node['minItems'])}:",
                fail,
            ]
        if "maxItems" in node:
            lines += [
                f"{pad}if isinstance({v}, list) and len({v}) > {int(node['maxItems'])}:",
                fail,
            ]
        if "minimum" in node:  # as jsonschema: a NaN is not less than the minimum
            least = self.constant(node["minimum"])
            lines += [f"{pad}if {IS_NUMBER.format(v=v)} and {v} < {least}:", fail]
        if "minLength" in node:
            lines += [
                f"{pad}if isinstance({v}, str) and len({v}) < {int(node['minLength'])}:",
                fail,
            ]
        if "pattern" in node:
            search = self.constant(re.compile(node["pattern"]).search)
            lines += [f"{pad}if isinstance({v}, str) and {search}({v}) is None:", fail]
        return lines


def compile_schema(root: dict, pointer: str = "#") -> Check:
    """A function that says whether an instance (as json.load makes it) is valid against `root` at
    `pointer` ("#" or "#/$defs/NAME"), for the keywords of draft 2020-12 the results schema uses."""
    compiler = _Compiler(root)
    entry = compiler.reference(pointer)
    namespace = {
        **compiler.constants,
        "MISSING": object(),
        "json_equal": json_equal,
    }
    # The source is made from the package's own schema: keys appear as repr() literals, values
    # as names bound in `namespace`; nothing from a results file is ever part of it.
    exec("\n\n".join(compiler.functions.values()), namespace)
    return namespace[entry]


@lru_cache(maxsize=1)
def checkers() -> tuple[Any, Any, Check]:
    """(jsonschema validator of the top level without the records' contents, jsonschema validator
    of one record, the compiled check of one record), built once per process."""
    import jsonschema  # only readers need it, not the pytest plugin that writes the file

    full = schema()
    top = {**full, "properties": {**full["properties"], "records": {"type": "array"}}}
    record = {"$ref": "#/$defs/record", "$defs": full["$defs"]}
    validator = jsonschema.Draft202012Validator
    return validator(top), validator(record), compile_schema(full, "#/$defs/record")


def json_path(parts: Iterable[Any]) -> str:
    """`$.records[3].metrics.output["max_abs_err"]`-style path of a value."""
    path = "$"
    for part in parts:
        if isinstance(part, int):
            path += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            path += f".{part}"
        else:
            path += f"[{json.dumps(part)}]"
    return path


def explain(error: Any) -> str:
    """jsonschema's message, with enums spelled out as names and long values cut short."""
    if error.validator == "enum":
        names = ", ".join(str(option) for option in error.validator_value)
        message = f"{shorten(repr(error.instance), 100)} is not one of: {names}"
        if list(error.absolute_path)[-1:] == ["outcome"]:
            message += " (the outcomes of conformance/outcomes.py)"
        return message
    return shorten(error.message, MAX_MESSAGE)


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def validate(document: Any, source: str) -> None:
    """Raise ValueError naming the file, the record (index and case id) and the JSON path of the
    first thing in `document` that the schema refuses; return quietly when it is valid."""
    from jsonschema.exceptions import best_match

    top, record_validator, record_ok = checkers()
    error = best_match(top.iter_errors(document))
    if error is not None:
        raise ValueError(f"{source}: at {json_path(error.absolute_path)}: {explain(error)}")
    for index, record in enumerate(document["records"]):
        if record_ok(record):
            continue
        error = best_match(record_validator.iter_errors(record))
        if error is None:  # the two disagree: a bug here, never a reason to accept the record
            raise ValueError(f"{source}: records[{index}] is refused by the compiled schema check")
        case = record.get("case_id") or record.get("test") if isinstance(record, dict) else None
        named = f" (case {shorten(case, 200)})" if isinstance(case, str) and case else ""
        raise ValueError(
            f"{source}: record {index}{named} at "
            f"{json_path(['records', index, *error.absolute_path])}: {explain(error)}"
        )
