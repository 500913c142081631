"""Values in stack files that are still examples: what to replace before the first ``pulumi up``.

    python -m infra.plan --check-placeholders              # every stack of the project
    python -m infra.plan --check-placeholders --stack prod

The stack files ship working examples so that the offline plan runs on a fresh clone. Every
leaf value of their ``config`` is checked against the conventions that mark example data, so
that nothing is a hand-kept list of keys or lines:

- AWS's documentation account ids (``123456789012``, one digit twelve times) alone or inside an
  ARN or a name (``mlops-state-111111111111``);
- ``secure:`` values that are no Pulumi ciphertext (``v1:<nonce>:<ciphertext>``, base64), such as
  ``v1:REPLACE-WITH-...``: the CLI cannot decrypt them;
- reserved example domains (RFC 2606/6761: ``example.com``, ``*.example``, ``*.test``, ...) in
  emails and URLs, and documentation address ranges (RFC 5737, RFC 3849) in CIDRs;
- example owners (``my-org``, ``your-team``) in repositories and URLs, and words such as
  ``REPLACE``, ``CHANGEME``, ``TODO``;
- counting-sequence ids (``123456``, ``12345678``), the usual stand-ins for App and
  installation ids.

Each finding names the file, line, the key path and the rule. Pure functions over the text of
a stack file (ruamel.yaml's round-trip loader keeps the lines).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_EXAMPLE_ACCOUNT = re.compile(r"(?<!\d)(123456789012|012345678901|(\d)\2{11})(?!\d)")
_CIPHERTEXT = re.compile(r"^v1:[A-Za-z0-9+/]+={0,2}:[A-Za-z0-9+/]+={0,2}$")
_EXAMPLE_DOMAIN = re.compile(
    r"(?:^|[@./])(?:example\.(?:com|org|net)|[\w-]+\.(?:example|test|invalid|localhost))\b",
    re.IGNORECASE,
)
_EXAMPLE_OWNER = re.compile(r"(?:^|[/:@\s])(?:my|your)[-_][\w-]+", re.IGNORECASE)
_MARKER = re.compile(r"\b(?:REPLACE|CHANGE[-_]?ME|TODO|FIXME|XXX+|PLACEHOLDER)\b", re.IGNORECASE)
_SEQUENCE = "1234567890"
_DOC_NETWORKS = tuple(
    ipaddress.ip_network(n)
    for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")
)


@dataclass(frozen=True)
class Placeholder:
    file: str
    line: int
    key: str
    value: str
    why: str

    def to_json(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "key": self.key, "value": self.value,
                "why": self.why}  # fmt: skip

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key} = {self.value!r}: {self.why}"


def _in_doc_range(text: str) -> bool:
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return False
    return any(
        network.version == doc.version and network.subnet_of(doc)  # type: ignore[arg-type]
        for doc in _DOC_NETWORKS
    )


def why_placeholder(value: str, secure: bool = False) -> str | None:
    """The convention that marks ``value`` as example data, or None."""
    if secure:
        if not _CIPHERTEXT.match(value):
            return "not a Pulumi ciphertext: set it with `pulumi config set --secret`"
        return None
    account = _EXAMPLE_ACCOUNT.search(value)
    if account:
        return f"AWS documentation account id {account.group(1)}: use your account's"
    if _MARKER.search(value):
        return "marked as a placeholder"
    if _EXAMPLE_DOMAIN.search(value):
        return "a reserved example domain (RFC 2606): use a real address"
    if _in_doc_range(value):
        return "a documentation address range (RFC 5737/3849) that no client has"
    if _EXAMPLE_OWNER.search(value):
        return "an example owner (my-*/your-*): use your organisation, group or repository"
    digits = value.strip()
    if len(digits) >= 4 and digits.isdigit() and _SEQUENCE.startswith(digits):
        return "a counting-sequence id: use the real one"
    return None


def _leaves(node: Any, path: str) -> Iterator[tuple[str, Any, Any, Any]]:
    """(path, value, container, key) for every scalar under ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves_of(value, f"{path}.{key}" if path else str(key), node, key)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _leaves_of(value, f"{path}[{index}]", node, index)


def _leaves_of(
    value: Any, path: str, container: Any, key: Any
) -> Iterator[tuple[str, Any, Any, Any]]:
    if isinstance(value, dict | list):
        yield from _leaves(value, path)
    else:
        yield path, value, container, key


def _line(container: Any, key: Any) -> int:
    lc = getattr(container, "lc", None)
    if lc is None:
        return 0
    try:
        position = lc.value(key) if isinstance(container, dict) else lc.item(key)
    except (KeyError, IndexError, TypeError):
        return 0
    return position[0] + 1


def scan(path: Path) -> list[Placeholder]:
    """The placeholders in one stack file's ``config``."""
    from ruamel.yaml import YAML

    document = YAML(typ="rt").load(path.read_text(encoding="utf-8")) or {}
    config = document.get("config") or {}
    found = []
    for key_path, value, container, key in _leaves(config, ""):
        secure = key == "secure"
        if not isinstance(value, str | int) or isinstance(value, bool):
            continue
        why = why_placeholder(str(value), secure=secure)
        if why:
            shown = key_path.removesuffix(".secure")
            found.append(Placeholder(path.name, _line(container, key), shown, str(value), why))
    return found


def render(found: list[Placeholder], stacks: list[str]) -> str:
    if not found:
        return f"no placeholders in {', '.join(f'Pulumi.{s}.yaml' for s in stacks)}\n"
    lines = [f"{len(found)} value(s) still hold examples; replace them before `pulumi up`:"]
    lines += [f"  {item}" for item in found]
    return "\n".join(lines) + "\n"
