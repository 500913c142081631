"""One declaration per setting: the annotated fields of the ``<Noun>Args`` dataclasses.

A field's type annotation carries what is allowed (``Annotated[int, Field(ge=1, le=50)]``,
``Literal[...]``, :class:`Matches` for a regular expression), its default is the dataclass
default and its one-line doc is the docstring written after it. Everything else is read from
that declaration:

- :func:`check_declared`, called first in each ``__post_init__``, validates a directly constructed
  Args object (pydantic, strict: no coercion) and raises :class:`ArgsError` naming the field, the
  value and what is allowed;
- :func:`config_model` turns the fields into a pydantic model with the stack config's camelCase
  keys, which ``infra/settings.py`` validates the stack files with and the JSON Schema of the
  stack files is generated from;
- :func:`describe` phrases what a declaration allows, for error lines and the docs' tables.

Cross-field rules (``min_instances <= max_instances``) stay as code in ``__post_init__``.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import re
import textwrap
import types
import typing
from collections.abc import Awaitable, Callable, Mapping, Sequence
from functools import cache
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import annotated_types
import pulumi
from pydantic import BaseModel, ConfigDict, Field, InstanceOf, ValidationError, create_model
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError, core_schema

__all__ = [
    "Allowed",
    "ArgsError",
    "Matches",
    "OneOf",
    "Satisfies",
    "Secret",
    "between",
    "check_declared",
    "config_model",
    "declared_fields",
    "declared_hint",
    "describe",
    "field_docs",
    "not_null",
]


class ArgsError(ValueError):
    """An invalid component argument: which field, what was given, what is allowed."""

    def __init__(self, field: str, value: Any, allowed: str) -> None:
        self.field = field
        self.value = value
        self.allowed = allowed
        super().__init__(f"{field}: got {value!r}; {allowed}")


# --- the vocabulary of declarations --------------------------------------------------------------


def between(low: Any, high: Any) -> annotated_types.Interval:
    """``Annotated[int, between(1, 50)]``: from ``low`` to ``high``, both included."""
    return annotated_types.Interval(ge=low, le=high)


@dataclasses.dataclass(frozen=True)
class OneOf:
    """One of a fixed set of values (numbers, or strings too many for a ``Literal``)."""

    values: tuple[Any, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        result = handler(schema)
        for branch in _branches(result):
            if branch.get("type") != "null":
                branch["enum"] = list(self.values)
        return result

    def _check(self, value: Any) -> Any:
        if value not in self.values:
            raise PydanticCustomError(
                "mlops_choice", "expected one of {values}", {"values": self.text}
            )
        return value

    @property
    def text(self) -> str:
        return ", ".join(map(str, self.values))


def _branches(schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The alternatives of a (nullable) JSON Schema: ``anyOf`` members, or the schema itself."""
    return schema.get("anyOf", [schema])


@dataclasses.dataclass(frozen=True)
class Matches:
    """A string matching ``pattern`` (``re.match``, as Python reads it); ``what`` says in words
    what that is, e.g. ``"a KMS key ARN"``. Unknown values (Outputs) pass."""

    pattern: re.Pattern[str]
    what: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        result = handler(schema)
        for branch in _branches(result):
            if branch.get("type") == "string":
                branch["pattern"] = self.pattern.pattern
        return result

    def _check(self, value: Any) -> Any:
        if isinstance(value, str) and not self.pattern.match(value):
            raise PydanticCustomError("mlops_pattern", "expected {what}", {"what": self.what})
        return value


@dataclasses.dataclass(frozen=True)
class Satisfies:
    """A value for which ``predicate`` holds; ``what`` says in words what that is, e.g.
    ``"an EC2 instance type"`` (checked against botocore's model). Unknown values pass."""

    predicate: Callable[[Any], bool]
    what: str

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def _check(self, value: Any) -> Any:
        if not isinstance(value, pulumi.Output) and not self.predicate(value):
            raise PydanticCustomError("mlops_pattern", "expected {what}", {"what": self.what})
        return value


@dataclasses.dataclass(frozen=True)
class Allowed:
    """What the field allows, in words, where the words derived from its type would not do."""

    text: str


@dataclasses.dataclass(frozen=True)
class Secret:
    """A credential: errors never echo its value."""


REDACTED = "[redacted]"


# --- reading declarations ------------------------------------------------------------------------


class _Missing:
    def __repr__(self) -> str:
        return "required"


REQUIRED = _Missing()


@dataclasses.dataclass(frozen=True)
class Declared:
    """One declared field of an Args dataclass."""

    owner: type
    """The Args dataclass that declares it."""
    name: str
    hint: Any
    """The annotation with its ``Annotated`` metadata."""
    default: Any
    """The default value (a factory's product), or :data:`REQUIRED`."""

    @property
    def doc(self) -> str:
        """The docstring written after the field (empty when there is none). Read from the
        source on demand: deployments validate without it, the docs and the schema read it."""
        return field_docs(self.owner).get(self.name, "")


@cache
def field_docs(cls: type) -> dict[str, str]:
    """The attribute docstrings of a class (``dataclasses`` does not keep them), from its source."""
    try:
        source = textwrap.dedent(inspect.getsource(cls))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = ast.parse(source).body[0].body  # type: ignore[attr-defined]
    for node, after in zip(body, [*body[1:], None], strict=True):
        if (
            isinstance(node, ast.AnnAssign)
            and isinstance(node.target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
            and isinstance(after.value.value, str)
        ):
            docs[node.target.id] = inspect.cleandoc(after.value.value)
    return docs


_LOCALS = {"Output": pulumi.Output, "T": object}


@cache
def declared_fields(cls: type) -> tuple[Declared, ...]:
    """The init fields of an Args dataclass, with their declarations."""
    hints = typing.get_type_hints(cls, include_extras=True, localns=_LOCALS)
    result = []
    for item in dataclasses.fields(cls):
        if not item.init:
            continue
        if item.default is not dataclasses.MISSING:
            default = item.default
        elif item.default_factory is not dataclasses.MISSING:
            default = item.default_factory()
        else:
            default = REQUIRED
        result.append(Declared(cls, item.name, hints[item.name], default))
    return tuple(result)


def declared_hint(cls: type, name: str) -> Any:
    """The declared annotation of one Args field, to declare a setting just like it."""
    return next(d.hint for d in declared_fields(cls) if d.name == name)


def not_null(hint: Any) -> Any:
    """``Annotated[T | None, *meta]`` -> ``Annotated[T, *meta]``: a declaration reused for a
    setting that always has a value."""
    base, meta = _split(hint)
    base = _nullable(base)
    return Annotated[(base, *meta)] if meta else base


def _split(hint: Any) -> tuple[Any, tuple[Any, ...]]:
    """``Annotated[T, *meta]`` -> ``(T, meta)``."""
    if get_origin(hint) is Annotated:
        base, *meta = get_args(hint)
        inner, inner_meta = _split(base)
        return inner, (*inner_meta, *meta)
    return hint, ()


def _constraints(meta: Sequence[Any]) -> list[Any]:
    found: list[Any] = []
    for item in meta:
        if isinstance(item, FieldInfo):
            found.extend(item.metadata)
        else:
            found.append(item)
    return found


def _is_union(hint: Any) -> bool:
    return get_origin(hint) in (Union, types.UnionType)


def _is_output(hint: Any) -> bool:
    return hint is pulumi.Output or get_origin(hint) is pulumi.Output


def _is_awaitable(hint: Any) -> bool:
    return get_origin(hint) is Awaitable


def _plain(hint: Any) -> Any:
    """The plain-value type of an annotation: ``Input[str] | None`` -> ``str | None``."""
    if _is_union(hint):
        members = [m for m in get_args(hint) if not (_is_output(m) or _is_awaitable(m))]
        return Union[tuple(members)] if len(members) > 1 else members[0]  # noqa: UP007
    return hint


# --- phrasing what a declaration allows ----------------------------------------------------------


def _range(meta: Sequence[Any]) -> tuple[Any, Any, Any]:
    low = high = above = None
    for item in _constraints(meta):
        if isinstance(item, annotated_types.Ge):
            low = item.ge
        elif isinstance(item, annotated_types.Le):
            high = item.le
        elif isinstance(item, annotated_types.Gt):
            above = item.gt
        elif isinstance(item, annotated_types.Interval):
            low, high, above = item.ge, item.le, item.gt
    return low, high, above


def _noun(phrase: str) -> str:
    return phrase.removeprefix("expected ")


def describe(hint: Any) -> str:
    """What a declared annotation allows, in words: ``expected an integer from 1 to 50``."""
    base, meta = _split(hint)
    for item in meta:
        if isinstance(item, Allowed):
            return item.text
    for item in meta:
        if isinstance(item, Matches | Satisfies):
            return f"expected {item.what}"
        if isinstance(item, OneOf):
            return f"expected one of {item.text}"
    base = _plain(base)
    if _is_union(base):
        members = [m for m in get_args(base) if m is not type(None)]
        if len(members) == 1:
            return describe(Annotated[(members[0], *meta)] if meta else members[0])
        return "expected " + " or ".join(_noun(describe(m)) for m in members)
    origin = get_origin(base)
    if origin is Literal:
        return "expected one of " + ", ".join(map(str, get_args(base)))
    if base is bool:
        return "expected true or false"
    if base is int:
        low, high, _ = _range(meta)
        if low is not None and high is not None:
            return f"expected an integer from {low} to {high}"
        if low is not None:
            return f"expected an integer of at least {low}"
        return "expected an integer"
    if base is float:
        low, high, above = _range(meta)
        if above is not None:
            return f"expected a number above {above}"
        if low is not None and high is not None:
            return f"expected a number from {low} to {high}"
        return "expected a number"
    if base is str:
        for item in _constraints(meta):
            if isinstance(item, annotated_types.MinLen) and item.min_length > 0:
                return "expected a non-empty string"
        return "expected a string"
    if origin in (Sequence, list, tuple):
        (element, *_rest) = get_args(base) or (Any,)
        return f"expected a list of {_plural(element)}"
    if origin in (Mapping, dict):
        value = (get_args(base) or (str, Any))[1]
        return f"expected a map of names to {_plural(value)}"
    if inspect.isclass(base) and issubclass(base, BaseModel):
        return "expected a map of settings"
    if inspect.isclass(base):
        return f"expected {base.__name__}"
    return "expected a value"


def _plural(hint: Any) -> str:
    base, meta = _split(hint)
    if any(isinstance(m, Matches | Satisfies | Allowed | OneOf) for m in meta):
        return _noun(describe(hint))
    plain = _plain(base)
    names = {str: "strings", int: "integers", float: "numbers", bool: "booleans", Any: "values"}
    if plain in names:
        return names[plain]
    if get_origin(plain) in (Mapping, dict) or (
        inspect.isclass(plain) and issubclass(plain, BaseModel)
    ):
        return "maps"
    return _noun(describe(hint))


# --- validating a constructed Args object --------------------------------------------------------

_ARGS_CONFIG = ConfigDict(strict=True, arbitrary_types_allowed=True, extra="forbid")


@dataclasses.dataclass(frozen=True)
class _AcceptsOutput:
    """A field that takes a ``pulumi.Input``: an Output passes (its value is known at deployment
    only), a plain value is checked against the plain type."""

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> core_schema.CoreSchema:
        return core_schema.no_info_wrap_validator_function(_unless_output, handler(source))


def _unless_output(value: Any, validate: Callable[[Any], Any]) -> Any:
    return value if isinstance(value, pulumi.Output) else validate(value)


def _args_hint(hint: Any) -> Any:
    """The annotation pydantic checks a constructed value against: Outputs are accepted where
    the field takes an Input, nested Args dataclasses by instance (they validated themselves)."""
    base, meta = _split(hint)
    extra: tuple[Any, ...] = ()
    if (_is_union(base) and any(_is_output(m) for m in get_args(base))) or _is_output(base):
        extra = (_AcceptsOutput(),)
        base = _plain(base) if not _is_output(base) else Any
    if _is_union(base):
        converted: Any = Union[tuple(_args_hint(m) for m in get_args(base))]  # noqa: UP007
    elif get_origin(base) in (Sequence, list, tuple):
        args = get_args(base)
        converted = Sequence[_args_hint(args[0])] if args else Sequence[Any]
    elif get_origin(base) in (Mapping, dict):
        key, value = get_args(base) or (Any, Any)
        converted = Mapping[_args_hint(key), _args_hint(value)]
    elif dataclasses.is_dataclass(base) and inspect.isclass(base):
        converted = InstanceOf[base]
    else:
        converted = base
    meta = (*extra, *meta)
    return Annotated[(converted, *meta)] if meta else converted


@cache
def _checker(cls: type) -> tuple[type[BaseModel], dict[str, Any]]:
    hints = {d.name: d.hint for d in declared_fields(cls)}
    model = create_model(  # type: ignore[call-overload]
        f"{cls.__name__}Check",
        __config__=_ARGS_CONFIG,
        **{name: (_args_hint(hint), ...) for name, hint in hints.items()},
    )
    return model, hints


def _path(loc: Sequence[Any]) -> str:
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        elif part == "[key]":
            continue
        else:
            text += f".{part}" if text else str(part)
    return text


def _hint_at(hint: Any, loc: Sequence[Any]) -> Any:
    """The declared annotation at ``loc`` inside a field (``[key]``: a mapping's key)."""
    for index, part in enumerate(loc):
        base = _nullable(_plain(_split(hint)[0]))
        origin = get_origin(base)
        if origin in (Mapping, dict):
            key, value = get_args(base) or (str, Any)
            hint = key if loc[index + 1 : index + 2] == ("[key]",) else value
            if hint is key:
                return hint
        elif origin in (Sequence, list, tuple) and isinstance(part, int):
            hint = get_args(base)[0] if get_args(base) else Any
        elif inspect.isclass(base) and issubclass(base, BaseModel):
            by_alias = {info.alias or n: n for n, info in base.model_fields.items()}
            if part not in by_alias:
                return None
            hint = _model_hint(base, by_alias[part])
        else:
            break
    return hint


def _nullable(hint: Any) -> Any:
    """``T | None`` -> ``T`` (other unions stay)."""
    if _is_union(hint):
        members = [m for m in get_args(hint) if m is not type(None)]
        if len(members) == 1:
            return _plain(_split(members[0])[0])
    return hint


def _model_hint(model: type[BaseModel], name: str) -> Any:
    info = model.model_fields[name]
    return Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation


def _is_secret(hint: Any) -> bool:
    return any(isinstance(m, Secret) for m in _split(hint)[1])


def explain(error: dict[str, Any], hint: Any) -> str:
    """The allowed-text for one pydantic error at a field whose declaration is ``hint``."""
    for item in _split(hint)[1]:
        if isinstance(item, Allowed):
            return item.text
    ctx = error.get("ctx") or {}
    if error["type"] == "mlops_pattern":
        return f"expected {ctx['what']}"
    if error["type"] == "mlops_choice":
        return f"expected one of {ctx['values']}"
    if error["type"] == "value_error" and isinstance(ctx.get("error"), ArgsError):
        return ctx["error"].allowed
    return describe(hint)


def check_declared(
    instance: Any, prefix: str = "", *, checked_as: Mapping[str, Any] | None = None
) -> None:
    """Validates every field of an Args object against its declaration (strict: a ``"5"`` is not
    an integer), raising :class:`ArgsError` with the field (``prefix.field[index]``), the value
    and what the declaration allows. ``checked_as`` gives the value to check for a field that
    accepts more than its declaration shows (a set where it declares a list)."""
    model, hints = _checker(type(instance))
    values = {name: getattr(instance, name) for name in hints} | dict(checked_as or {})
    try:
        model.model_validate(values)
    except ValidationError as failure:
        error = failure.errors(include_url=False)[0]
        name, *inner = error["loc"]
        hint = _hint_at(hints[name], tuple(inner))
        field_path = _path([name, *inner])
        value = REDACTED if _is_secret(hints[name]) else error["input"]
        raise ArgsError(
            f"{prefix}.{field_path}" if prefix else field_path, value, explain(error, hint)
        ) from None


# --- config models: the declarations with the stack config's keys -------------------------------

CONFIG = ConfigDict(strict=True, extra="forbid", frozen=True, populate_by_name=False)


@dataclasses.dataclass(frozen=True)
class Keyed:
    """A ``Sequence[<Args>]`` field written in config as a map by name: ``{cpu: {...}}`` for
    ``(RunnerScaleSet(name="cpu", ...),)``; ``key`` is the Args field the map key fills."""

    model: type[BaseModel]
    key: str = "name"


def _config_hint(hint: Any, nested: Mapping[type, type[BaseModel]]) -> Any:
    base, meta = _split(hint)
    meta = tuple(m for m in meta if not isinstance(m, Secret))
    base = _plain(base)
    if _is_union(base):
        members = tuple(_config_hint(m, nested) for m in get_args(base))
        converted: Any = Union[members]  # noqa: UP007
    elif get_origin(base) in (Sequence, list, tuple):
        args = get_args(base)
        converted = list[_config_hint(args[0], nested)] if args else list[Any]  # type: ignore[misc]
    elif get_origin(base) in (Mapping, dict):
        key, value = get_args(base) or (str, Any)
        converted = dict[_config_hint(key, nested), _config_hint(value, nested)]  # type: ignore[misc]
    elif base in nested:
        converted = nested[base]
    else:
        converted = base
    return Annotated[(converted, *meta)] if meta else converted


def _json_default(value: Any) -> Any:
    """A default as the stack file would write it, or :data:`UNSHOWN` (an Args object)."""
    if isinstance(value, tuple | list):
        items = [_json_default(v) for v in value]
        return UNSHOWN if UNSHOWN in items else items
    if isinstance(value, Mapping):
        items = {k: _json_default(v) for k, v in value.items()}
        return UNSHOWN if UNSHOWN in items.values() else items
    if dataclasses.is_dataclass(value):
        return UNSHOWN
    return value


UNSHOWN = _Missing()


def config_model(
    name: str,
    *sources: type,
    exclude: Sequence[str] = (),
    rename: Mapping[str, str] | None = None,
    nested: Mapping[type, type[BaseModel]] | None = None,
    keyed: Mapping[str, Keyed] | None = None,
    extra: Mapping[str, tuple[Any, Any, str]] | None = None,
    defaults: Mapping[str, Any] | None = None,
    doc: str = "",
    required: bool = True,
) -> type[BaseModel]:
    """A pydantic model of one config block, from the declared fields of Args dataclasses.

    Keys are the fields' camelCase names unless ``rename`` maps a field to another key;
    ``exclude`` leaves out fields the stack wires (ARNs, providers); ``nested`` names the config
    model of a nested Args type; ``keyed`` turns a list of Args into a map by name; ``extra``
    declares keys of the block that are no Args field (``name -> (annotation, default, doc)``),
    listed first; ``defaults`` gives a default to a field the Args require but a stack may leave
    out (the program passes that default on). The models are strict (JSON types, no coercion)
    and reject unknown keys; their defaults are documentation (settings pass only the keys a
    stack sets to the Args). With ``required=False`` no key is required (a block that is merged
    with defaults before use).
    """
    rename = dict(rename or {})
    nested = dict(nested or {})
    keyed = dict(keyed or {})
    fields: dict[str, Any] = {}
    for field_name, (hint, declared_default, text) in (extra or {}).items():
        default = None if not required and declared_default is ... else declared_default
        fields[field_name] = (hint, _field(field_name, default, text, rename))
    for source in sources:
        for declared in declared_fields(source):
            if declared.name in exclude or declared.name in fields:
                continue
            if declared.name in keyed:
                hint: Any = dict[str, keyed[declared.name].model]  # type: ignore[name-defined]
                # An empty list of Args is an empty map; others are not shown (Args objects).
                default: Any = {} if declared.default == () else UNSHOWN
            else:
                hint = _config_hint(declared.hint, nested)
                default = (defaults or {}).get(declared.name, declared.default)
            if not required and default is REQUIRED:
                default = UNSHOWN
            lazy = LazyDoc(declared.owner, declared.name)
            fields[declared.name] = (hint, _field(declared.name, default, lazy, rename))
    return create_model(name, __config__=CONFIG, __doc__=doc or None, **fields)  # type: ignore[call-overload]


def prose(doc: str) -> str:
    """A docstring as one line of Markdown (reST literals and roles made Markdown)."""
    text = re.sub(r":(?:class|func|meth|attr):`~?([\w.]+)`", r"`\1`", " ".join(doc.split()))
    return text.replace("``", "`")


@dataclasses.dataclass(frozen=True)
class LazyDoc:
    """A config field's description, taken from the Args field's docstring when a JSON Schema
    or the docs are generated (not when a stack's config is validated)."""

    owner: type
    name: str

    @property
    def text(self) -> str:
        return prose(field_docs(self.owner).get(self.name, ""))

    def __call__(self, schema: dict[str, Any]) -> None:
        if self.text:
            schema["description"] = self.text


def description(info: FieldInfo) -> str:
    """A config field's one-line doc, whether declared in place or on the Args field."""
    extra = info.json_schema_extra
    return info.description or (extra.text if isinstance(extra, LazyDoc) else "")


def _field(name: str, default: Any, doc: str | LazyDoc, rename: Mapping[str, str]) -> FieldInfo:
    alias = rename.get(name, to_camel(name))
    lazy = doc if isinstance(doc, LazyDoc) else None
    text = None if lazy else (prose(doc) or None)
    if default is REQUIRED:
        return Field(..., alias=alias, description=text, json_schema_extra=lazy)
    shown = _json_default(default)
    if shown is UNSHOWN:

        def drop_default(schema: dict[str, Any]) -> None:
            schema.pop("default", None)
            if lazy:
                lazy(schema)

        return Field(default=None, alias=alias, description=text, json_schema_extra=drop_default)
    return Field(default=shown, alias=alias, description=text, json_schema_extra=lazy)


def locate(model: type[BaseModel], loc: Sequence[Any]) -> Any:
    """The declared annotation at a pydantic error location of a config model (None: the
    location is an unknown key)."""
    return _hint_at(model, tuple(loc))
