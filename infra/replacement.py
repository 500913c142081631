"""Which input changes make the provider replace a resource, read from what is installed.

The offline plan has no provider to ask for a diff, so ``infra.diff`` asks this module whether a
changed input *forces replacement*. Every answer is derived from data shipped with the pinned
SDKs in the virtualenv, never from a hand-kept list of properties, and names its source:

``docs``
    The property's SDK docstring says so ("Changing this forces a new resource", "Cannot be
    updated", ...): pulumi-aws carries the Terraform provider's notes, pulumi-kubernetes the
    Kubernetes API's. Nested properties are followed through the SDK's ``*Args`` input types.
``identity``
    The property identifies the resource: the SDK's import section names it ("import ECR
    Repositories using the `name`", "... using the name of the repository"), or it is an
    autonamed physical name (a property ``x`` with a sibling ``x_prefix``, e.g.
    ``name``/``namePrefix``, ``bucket``/``bucketPrefix``).
    A different identity is a different resource.
``api``
    The AWS service (botocore's model of its API, installed with boto3) offers no operation that
    changes the resource after ``Create<Noun>``: every input but tags forces replacement
    (SageMaker models and endpoint configurations, VPC flow logs, ...).
``engine``
    The Pulumi engine's own rules: a resource moved to another provider is replaced, and so is one
    whose ``replaceOnChanges`` option names the property.

What none of these says is reported as an update: the same answer ``pulumi preview`` would give
for a property the provider can change in place. Functions are pure apart from reading the SDK
sources, and cached.
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

TAG_PROPERTIES = frozenset({"tags", "tagsAll"})

# Sentences of the SDK docs that state a replacement (pulumi-aws: Terraform's "ForceNew" notes;
# pulumi-kubernetes: the API's "Cannot be updated" / "Immutable").
_FORCES = re.compile(
    r"forces? (?:a )?new (?:resource|\w+(?: \w+)? to be created)"
    r"|forces? (?:the )?replacement|forces new resource|cannot be updated|^immutable\b",
    re.IGNORECASE,
)
_SENTENCE = re.compile(r"(?<=[.!?])\s+")
_PROPERTY = re.compile(
    r"@pulumi\.getter(?:\(name=\"(?P<camel>\w+)\"\))?\s*\n\s*def (?P<snake>\w+)\(self\)\s*->"
    r"\s*(?P<annotation>[^\n]*):\s*\n(?:\s*\"\"\"(?P<doc>.*?)\"\"\")?",
    re.DOTALL,
)
_NESTED = re.compile(r"'(?P<module>(?:_\w+\.)*(?:\w+\.)*?)(?P<name>\w+Args)'")
_IMPORT = re.compile(r"Using `pulumi import`, import .*? using (?P<what>.*?)\. For example", re.S)
_BACKTICKED = re.compile(r"`([\w:\-/#]+)`")
_WORD = re.compile(r"[A-Z][a-z0-9]*")
# Operations that create, read or delete a resource (or tag it) never change it in place.
_NOT_AN_UPDATE = frozenset(
    [
        "Create",
        "Delete",
        "Describe",
        "List",
        "Get",
        "Head",
        "Search",
        "Batch",
        "Tag",
        "Untag",
        "Start",
        "Stop",
        "Cancel",
        "Generate",
        "Validate",
        "Test",
        "Deregister",
        "Register",
        "Import",
        "Export",
        "Invoke",
        "Send",
        "Retry",
        "Preview",
        "Query",
    ]
)


@dataclass(frozen=True)
class Reason:
    """Why a change of ``property`` replaces the resource."""

    property: str
    source: str  # docs | identity | api | engine
    detail: str

    def to_json(self) -> dict[str, str]:
        return {"property": self.property, "source": self.source, "detail": self.detail}


@dataclass(frozen=True)
class _Property:
    camel: str
    snake: str
    doc: str
    nested: tuple[str, str] | None  # (package-relative module path, Args class) of its elements


@dataclass(frozen=True)
class _Schema:
    """What the SDK source says about one resource type."""

    package: Path
    module: str  # package-relative module path, e.g. "sagemaker"
    properties: dict[str, _Property]
    identity: dict[str, str]  # camel name -> why it identifies the resource


def _camel(snake: str) -> str:
    head, *rest = snake.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(camel: str) -> str:
    return re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", camel).lower()


@cache
def _package_root(package: str) -> Path | None:
    spec = importlib.util.find_spec(f"pulumi_{package}")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


@cache
def _resource_modules(package: str) -> dict[str, tuple[str, str]]:
    """Type token -> (fqn, class) from the SDK's own registration table (its ``__init__``)."""
    root = _package_root(package)
    if root is None:
        return {}
    text = (root / "__init__.py").read_text(encoding="utf-8")
    start = text.find('resource_modules="""')
    if start < 0:
        return {}
    start += len('resource_modules="""')
    table = json.loads(text[start : text.index('"""', start)])
    return {
        token: (entry["fqn"], cls) for entry in table for token, cls in entry["classes"].items()
    }


def _class_block(text: str, name: str) -> str:
    match = re.search(rf"\nclass {re.escape(name)}[(:]", text)
    if match is None:
        return ""
    start = match.start()
    end = text.find("\nclass ", start + 1)
    return text[start : end if end > 0 else len(text)]


def _properties(block: str, module: str) -> dict[str, _Property]:
    found: dict[str, _Property] = {}
    for match in _PROPERTY.finditer(block):
        camel = match["camel"] or match["snake"]
        if camel in found:
            continue  # the setter repeats the getter
        nested = _NESTED.search(match["annotation"])
        where = None
        if nested:
            prefix = nested["module"].rstrip(".")
            parts = [p.lstrip("_") for p in prefix.split(".") if p] if prefix else []
            if parts[:1] == ["root_inputs"]:
                where = ("", nested["name"])
            else:
                # '_meta.v1.ObjectMetaArgs' is relative to the package root; a bare name lives
                # next to the resource.
                where = ("/".join(parts) if parts else module, nested["name"])
        doc = " ".join((match["doc"] or "").split())
        found[camel] = _Property(camel, match["snake"], doc, where)
    return found


@cache
def _inputs(package: str, module: str) -> str:
    root = _package_root(package)
    if root is None:
        return ""
    path = root / module / "_inputs.py" if module else root / "_inputs.py"
    return path.read_text(encoding="utf-8") if path.is_file() else ""


@cache
def _nested_properties(package: str, module: str, cls: str) -> dict[str, _Property]:
    return _properties(_class_block(_inputs(package, module), cls), module)


@cache
def schema(type_: str) -> _Schema | None:
    """The SDK's description of a resource type, or None when its SDK is not installed."""
    package = type_.split(":", 1)[0]
    entry = _resource_modules(package).get(type_)
    root = _package_root(package)
    if entry is None or root is None:
        return None
    fqn, cls = entry
    module = "/".join(fqn.split(".")[1:])
    directory = root / module
    stem = type_.split(":")[1].rsplit("/", 1)[-1]
    candidates = [directory / f"{_snake(stem)}.py", directory / f"{cls}.py"]
    candidates += sorted(directory.glob("*.py"))
    text = ""
    for path in candidates:
        if path.is_file():
            content = path.read_text(encoding="utf-8")
            if f"\nclass {cls}(pulumi.CustomResource)" in content:
                text = content
                break
    if not text:
        return None
    block = _class_block(text, f"{cls}Args") or _class_block(text, f"{cls}InitArgs")
    properties = _properties(block, module)
    identity: dict[str, str] = {}
    for prop in properties.values():
        prefix = f"{prop.camel}Prefix"
        if prefix in properties:
            why = f"`{prop.camel}` is the autonamed physical name (with `{prefix}`)"
            identity[prop.camel] = why
            identity[prefix] = why
    imported = _IMPORT.search(text)
    if imported:
        sentence = " ".join(imported.group(0).split())
        # `cluster_name` and `node_group_name`; or prose: "using the name of the repository"
        words = _BACKTICKED.findall(imported["what"]) + re.findall(r"\b[a-z]+\b", imported["what"])
        for token in words:
            for part in re.split(r"[:/#]", token):
                camel = _camel(part.replace("-", "_"))
                if camel in properties and camel not in ("id", "arn"):
                    identity.setdefault(camel, f"the SDK imports it by `{part}`: {sentence}")
    return _Schema(root, module, properties, identity)


# --- botocore: resources the AWS API cannot change after creating them ----------------------------


@cache
def _operations(service: str) -> tuple[str, ...]:
    import botocore.session

    session = botocore.session.get_session()
    if service not in session.get_available_services():
        return ()
    return tuple(session.get_service_model(service).operation_names)


def _verb(operation: str) -> tuple[str, str]:
    match = _WORD.match(operation)
    verb = match.group(0) if match else ""
    return verb, operation[len(verb) :]


@cache
def immutable_noun(service: str, resource_class: str) -> str | None:
    """The API noun of ``resource_class`` when ``service`` can create it but has no operation
    that changes it (only create/describe/delete/tag), else None."""
    operations = _operations(service)
    creatable = set()
    for operation in operations:
        verb, noun = _verb(operation)
        if verb == "Create" and noun:
            creatable.add(noun)
            creatable.add(noun.removesuffix("s"))
    nouns = sorted((n for n in creatable if resource_class.startswith(n)), key=len, reverse=True)
    if not nouns:
        return None
    noun = nouns[0]

    def owner(rest: str) -> str | None:
        owners = [n for n in creatable if rest.startswith(n)]
        return max(owners, key=len) if owners else None

    for operation in operations:
        verb, rest = _verb(operation)
        if verb not in _NOT_AN_UPDATE and owner(rest) == noun:
            return None
    return noun


def _service(type_: str) -> str:
    return type_.split(":")[1].split("/", 1)[0]


# --- the question ------------------------------------------------------------------------------


def _path_steps(path: str) -> list[str]:
    """``a.b[0].c`` -> ["a", "b", "c"] (list indexes do not change the schema)."""
    return [step for step in re.split(r"\.|\[\d+\]", path) if step]


def forces_replacement(
    type_: str, path: str, replace_on_changes: tuple[str, ...] = ()
) -> Reason | None:
    """Why changing the input at ``path`` (``a.b[0].c``, engine camelCase names) replaces a
    resource of ``type_``, or None when the provider updates it in place."""
    steps = _path_steps(path)
    if not steps:
        return None
    top = steps[0]
    for option in replace_on_changes:
        if option in ("*", top) or path.startswith(option):
            return Reason(top, "engine", f"the resource's replaceOnChanges names `{option}`")
    if top in TAG_PROPERTIES:
        return None
    found = schema(type_)
    if found is not None:
        if top in found.identity:
            return Reason(top, "identity", found.identity[top])
        properties = found.properties
        package = type_.split(":", 1)[0]
        walked: list[str] = []
        for step in steps:
            prop = properties.get(step)
            if prop is None:
                break
            walked.append(step)
            sentence = next((s for s in _SENTENCE.split(prop.doc) if _FORCES.search(s)), None)
            if sentence:
                return Reason(".".join(walked), "docs", sentence)
            if prop.nested is None:
                break
            properties = _nested_properties(package, *prop.nested)
        if type_.startswith("aws:") and top in found.properties:
            resource_class = type_.rsplit(":", 1)[-1]
            noun = immutable_noun(_service(type_), resource_class)
            if noun:
                return Reason(
                    top,
                    "api",
                    f"the {_service(type_)} API has Create{noun} and no operation that "
                    "changes what it created: every input but tags is fixed at creation",
                )
    return None
