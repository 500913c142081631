"""What a change does to a stack: pure functions over a base plan and a head plan (JSON contract).

``python -m infra.plan --stack prod --base main.json`` (or ``--base-ref main``) reports, per
resource, what ``pulumi up`` of the head would do to a stack deployed from the base:

- ``create`` / ``delete``: a URN only in the head / only in the base. A head resource whose
  ``aliases`` name a base URN is the same resource renamed, not a delete and a create.
- ``update``: the inputs differ (the changed property paths are listed); paths under the
  resource's ``ignoreChanges`` do not count, nor do changes of ``protect``/``retainOnDelete``
  alone, which change the state only.
- ``replace``: a changed input forces a new resource (``infra.replacement`` says which and why),
  or the resource moved to another provider. A replaced resource gets new computed values (ids,
  ARNs, autonamed names), so its dependents that use them change too: the diff follows those
  edges, and a dependent whose forcing input takes such a value is replaced in turn.

Also: protected (or retained) resources that a change touches, stack outputs added, removed or
changed, the monthly cost delta from the plans' estimates, and policy findings new and fixed
(matched by rule and URN).

Only cloud resources (``custom``) are counted; providers are listed when they change.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from mlops_platform.infra import replacement

OPS = ("create", "update", "replace", "delete")
SYMBOL = {"create": "+", "update": "~", "replace": "±", "delete": "-"}
UNKNOWN = "[unknown]"
_MIN_TRACKED = 6  # computed values shorter than this (e.g. "1") are too common to follow


class DiffError(ValueError):
    """The two plans cannot be compared (another project or stack, not a plan)."""


# --- helpers over plan JSON -----------------------------------------------------------------------


def check_pair(base: Any, head: dict[str, Any]) -> None:
    """A base plan must be a plan of the same project and stack."""
    if not isinstance(base, dict) or not isinstance(base.get("resources"), list):
        raise DiffError("the base is not a plan (expected the JSON of `--format json`)")
    for key in ("project", "stack"):
        if base.get(key) != head.get(key):
            raise DiffError(
                f"the base plan is of {key} {base.get(key)!r}, this plan of {head.get(key)!r}"
            )


def _changed_paths(old: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(path, old, new) for every leaf that differs; lists of different lengths, and values
    whose type changed, are one change at their own path."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in sorted(set(old) | set(new)):
            child = f"{path}.{key}" if path else key
            if key not in old or key not in new:
                yield child, old.get(key), new.get(key)
            else:
                yield from _changed_paths(old[key], new[key], child)
    elif isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        for index, (a, b) in enumerate(zip(old, new, strict=True)):
            yield from _changed_paths(a, b, f"{path}[{index}]")
    elif old != new:
        parsed = _json_documents(old, new)
        if parsed is None:
            yield path, old, new
        else:  # policy documents, provider settings: JSON strings compare by content
            yield from _changed_paths(*parsed, path)


def _json_documents(old: Any, new: Any) -> tuple[Any, Any] | None:
    if not (isinstance(old, str) and isinstance(new, str)):
        return None
    if not (old.lstrip()[:1] in ("{", "[") and new.lstrip()[:1] in ("{", "[")):
        return None
    try:
        return json.loads(old), json.loads(new)
    except ValueError:
        return None


def _ignored(path: str, ignore: list[str]) -> bool:
    plain = path.replace("[", ".[")
    return any(
        path == rule or path.startswith((f"{rule}.", f"{rule}[")) or plain.startswith(f"{rule}.")
        for rule in ignore
    )


def _provider_urn(res: dict[str, Any]) -> str:
    return (res.get("provider") or "").rsplit("::", 1)[0]


def string_leaves(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a JSON value, with its property path (``rules[0].id``), in order."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from string_leaves(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from string_leaves(item, f"{path}[{index}]")


def _computed_values(res: dict[str, Any]) -> set[str]:
    """Values a replacement changes: the id and every output the provider computed (not an
    input given as is), e.g. ARNs and autonamed physical names."""
    inputs = res.get("inputs") or {}
    values = {res["id"]} if isinstance(res.get("id"), str) else set()
    for key, value in (res.get("outputs") or {}).items():
        if isinstance(value, str) and inputs.get(key) != value:
            values.add(value)
    return {v for v in values if len(v) >= _MIN_TRACKED and v not in (UNKNOWN, "[secret]")}


def _finding_key(finding: dict[str, Any]) -> tuple[str, str]:
    return finding.get("rule", ""), finding.get("urn", "")


# --- the diff ------------------------------------------------------------------------------------


def _entry(op: str, res: dict[str, Any], base: dict[str, Any] | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "op": op,
        "urn": res["urn"],
        "type": res["type"],
        "name": res["name"],
        "protect": bool(res.get("protect") or (base or {}).get("protect")),
        "retainOnDelete": bool(res.get("retainOnDelete") or (base or {}).get("retainOnDelete")),
        "properties": [],
        "replaceReasons": [],
    }
    if base is not None and base["urn"] != res["urn"]:
        entry["renamedFrom"] = base["urn"]
    return entry


def _classify(entry: dict[str, Any], head: dict[str, Any]) -> None:
    """update or replace, from the entry's changed properties."""
    reasons: dict[str, dict[str, str]] = {r["property"]: r for r in entry["replaceReasons"]}
    for change in entry["properties"]:
        reason = replacement.forces_replacement(
            head["type"], change["path"], tuple(head.get("replaceOnChanges") or ())
        )
        if reason is not None:
            change["forcesReplacement"] = True
            reasons.setdefault(reason.property, reason.to_json())
    entry["replaceReasons"] = list(reasons.values())
    entry["op"] = "replace" if reasons else "update" if entry["properties"] else "same"
    if entry["op"] == "replace" and head.get("deleteBeforeReplace"):
        entry["deleteBeforeReplace"] = True


def diff(base: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """What deploying ``head`` does to a stack deployed from ``base`` (both plan JSON)."""
    check_pair(base, head)
    skip = "pulumi:pulumi:Stack"
    old = {r["urn"]: r for r in base["resources"] if r["type"] != skip}
    new = {r["urn"]: r for r in head["resources"] if r["type"] != skip}
    matched: dict[str, dict[str, Any]] = {}  # head urn -> base resource
    for urn, res in new.items():
        if urn in old:
            matched[urn] = old[urn]
        else:
            alias = next((a for a in res.get("aliases") or [] if a in old), None)
            if alias is not None:
                matched[urn] = old[alias]
    kept = {res["urn"] for res in matched.values()}

    entries: dict[str, dict[str, Any]] = {}
    components = {"create": 0, "delete": 0}
    for urn, res in new.items():
        if urn not in matched:
            if res["custom"]:
                entries[urn] = _entry("create", res)
            else:
                components["create"] += 1
            continue
        before = matched[urn]
        if not res["custom"]:
            continue
        entry = _entry("same", res, before)
        ignore = list(res.get("ignoreChanges") or [])
        for path, a, b in _changed_paths(before.get("inputs") or {}, res.get("inputs") or {}):
            if path and not _ignored(path, ignore) and not (a == b == UNKNOWN):
                entry["properties"].append({"path": path, "old": a, "new": b})
        if _provider_urn(before) != _provider_urn(res):
            entry["properties"].append(
                {"path": "[provider]", "old": _provider_urn(before), "new": _provider_urn(res)}
            )
            entry["replaceReasons"].append(
                {
                    "property": "[provider]",
                    "source": "engine",
                    "detail": "the resource moved to another provider",
                }
            )
        _classify(entry, res)
        entries[urn] = entry
    for urn, res in old.items():
        if urn in kept:
            continue
        if res["custom"]:
            entries[urn] = _entry("delete", res)
        else:
            components["delete"] += 1

    _follow_replacements(entries, matched, new)

    changes = [e for e in entries.values() if e["op"] != "same"]
    order = {op: index for index, op in enumerate(("replace", "delete", "update", "create"))}
    changes.sort(key=lambda e: (order[e["op"]], e["type"], e["name"]))
    # Counted like the plan's header (infra.counts): cloud resources, providers apart.
    custom = [e for e in entries.values() if not e["type"].startswith("pulumi:providers:")]
    summary = {op: sum(1 for e in custom if e["op"] == op) for op in OPS}
    summary["same"] = sum(1 for e in custom if e["op"] == "same")
    return {
        "project": head["project"],
        "stack": head["stack"],
        "summary": summary,
        "components": components,
        "changes": changes,
        "protected": [
            {"name": e["name"], "type": e["type"], "op": e["op"], "urn": e["urn"]}
            for e in changes
            if e["protect"]
        ],
        "outputs": _outputs(base.get("outputs") or {}, head.get("outputs") or {}),
        "cost": _cost(base.get("estimate") or {}, head.get("estimate") or {}),
        "policy": _policy(base.get("policy") or [], head.get("policy") or []),
        "diagnostics": list(head.get("diagnostics") or []),
    }


def _follow_replacements(
    entries: dict[str, dict[str, Any]],
    matched: dict[str, dict[str, Any]],
    new: dict[str, dict[str, Any]],
) -> None:
    """Dependents of a replaced resource see its new computed values: their inputs that hold
    one change too (and may force their own replacement)."""
    dependents: dict[str, list[str]] = {}
    for urn, res in new.items():
        for dependency in res.get("dependencies") or []:
            dependents.setdefault(dependency, []).append(urn)
    queue = [urn for urn, e in entries.items() if e["op"] == "replace"]
    seen: set[str] = set()
    while queue:
        replaced = queue.pop(0)
        if replaced in seen:
            continue
        seen.add(replaced)
        values = _computed_values(new[replaced])
        for urn in dependents.get(replaced, []):
            entry = entries.get(urn)
            if entry is None or entry["op"] in ("create", "delete") or urn not in matched:
                continue
            known = {p["path"] for p in entry["properties"]}
            added = False
            for path, text in string_leaves(new[urn].get("inputs") or {}):
                if path not in known and any(value in text for value in values):
                    entry["properties"].append(
                        {
                            "path": path,
                            "old": text,
                            "new": f"(known after {entries[replaced]['name']} is replaced)",
                        }
                    )
                    added = True
            if added:
                entry.setdefault("causedBy", entries[replaced]["name"])
                was = entry["op"]
                _classify(entry, new[urn])
                if entry["op"] == "replace" and was != "replace":
                    queue.append(urn)


def _outputs(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    return {
        "added": {k: new[k] for k in sorted(new) if k not in old},
        "removed": {k: old[k] for k in sorted(old) if k not in new},
        "changed": {k: [old[k], new[k]] for k in sorted(new) if k in old and old[k] != new[k]},
    }


def _cost(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    a, b = old.get("monthlyCostUsd"), new.get("monthlyCostUsd")
    cost: dict[str, Any] = {
        "base": a,
        "head": b,
        "delta": round(b - a, 2)
        if isinstance(a, int | float) and isinstance(b, int | float)
        else None,
    }
    if cost["delta"] is None:
        cost["error"] = new.get("error") or old.get("error") or "no estimate"
    # Items the head uses that the price table lacks: the delta leaves them out.
    was, now = set(old.get("unpriced") or []), set(new.get("unpriced") or [])
    cost["unpriced"] = sorted(now - was)
    # An item priced on one side only (ml.m5.xlarge -> an unpriced ml.m5.2xlarge) counts as $0
    # on the other: the delta is then no figure to show (it would read as a saving).
    cost["complete"] = cost["delta"] is not None and was == now
    before = {c["component"]: c["monthlyUsd"] for c in old.get("perComponent", [])}
    after = {c["component"]: c["monthlyUsd"] for c in new.get("perComponent", [])}
    cost["perComponent"] = [
        {
            "component": name,
            "base": before.get(name),
            "head": after.get(name),
            "delta": round((after.get(name) or 0) - (before.get(name) or 0), 2),
        }
        for name in sorted(set(before) | set(after))
        if round((after.get(name) or 0) - (before.get(name) or 0), 2) != 0
    ]
    return cost


def _policy(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    before = {_finding_key(f) for f in old}
    after = {_finding_key(f) for f in new}
    mandatory = [f for f in new if f.get("severity") == "mandatory" and not f.get("waived")]
    return {
        "findings": new,
        "new": [f for f in new if _finding_key(f) not in before],
        "fixed": [f for f in old if _finding_key(f) not in after],
        "mandatory": len(mandatory),
    }


# --- rendering -----------------------------------------------------------------------------------


def short(value: Any, limit: int = 120) -> str:
    """A value on one line, at most ``limit`` characters."""
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    text = " ".join(text.split()) if isinstance(text, str) else str(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def money(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "n/a"
    if signed:
        return f"{'+' if value >= 0 else '-'}${abs(value):,.2f}"
    return f"${value:,.2f}"


def headline(result: dict[str, Any]) -> str:
    s = result["summary"]
    return (
        f"{s['create']} to create, {s['update']} to update, {s['replace']} to replace, "
        f"{s['delete']} to delete ({s['same']} unchanged)"
    )


def replace_note(entry: dict[str, Any]) -> str:
    """``productionVariants (api: ...)``: the forcing properties, with the first reason."""
    reasons = entry["replaceReasons"]
    names = ", ".join(f"`{r['property']}`" for r in reasons)
    note = f"forced by {names}" if names else ""
    if entry.get("deleteBeforeReplace"):
        note += "; deleted before it is re-created (an outage)"
    return note


def finding_line(finding: dict[str, Any]) -> str:
    waived = f" (waived: {finding.get('reason', '')})" if finding.get("waived") else ""
    return (
        f"{finding.get('severity', '?')}{waived}: {finding.get('rule', '?')}: "
        f"{finding.get('resource', '')}: {finding.get('message', '')}"
    )


def render_tree(result: dict[str, Any], base_label: str = "the base") -> str:
    cost = result["cost"]
    lines = [
        f"{result['project']} / {result['stack']} against {base_label}: {headline(result)}",
        f"  monthly cost: {money(cost['base'])} -> {money(cost['head'])} "
        + (
            f"({money(cost['delta'], signed=True)})"
            if cost.get("complete", True)
            else "(delta unknown: the price table lacks what changed)"
        )
        + (f"; not priced: {', '.join(cost['unpriced'])}" if cost.get("unpriced") else "")
        if cost["delta"] is not None
        else f"  monthly cost: {cost.get('error')}",
        f"  policy: {len(result['policy']['new'])} new finding(s), "
        f"{len(result['policy']['fixed'])} fixed; "
        f"{result['policy']['mandatory']} unwaived mandatory violation(s)",
        "",
    ]
    for entry in result["changes"]:
        flag = "  [protected]" if entry["protect"] else ""
        lines.append(f"{SYMBOL[entry['op']]} {entry['type']}  {entry['name']}{flag}")
        if entry["op"] == "replace":
            for reason in entry["replaceReasons"]:
                lines.append(
                    f"    replaced: {reason['property']} ({reason['source']}: {reason['detail']})"
                )
            if entry.get("deleteBeforeReplace"):
                lines.append("    deleted before it is re-created (an outage)")
        for change in entry["properties"]:
            mark = " (forces replacement)" if change.get("forcesReplacement") else ""
            lines.append(
                f"    {change['path']}: {short(change['old'], 80)} -> "
                f"{short(change['new'], 80)}{mark}"
            )
    if not result["changes"]:
        lines.append("no resource changes")
    if result["protected"]:
        lines += ["", "Protected resources touched:"]
        lines += [
            f"  {SYMBOL[p['op']]} {p['type']}  {p['name']} ({p['op']})" for p in result["protected"]
        ]
    outputs = result["outputs"]
    if any(outputs.values()):
        lines += ["", "Outputs:"]
        lines += [f"  + {k}: {short(v)}" for k, v in outputs["added"].items()]
        lines += [f"  - {k}: {short(v)}" for k, v in outputs["removed"].items()]
        lines += [f"  ~ {k}: {short(a)} -> {short(b)}" for k, (a, b) in outputs["changed"].items()]
    if cost.get("perComponent"):
        lines += ["", "Cost by component:"]
        lines += [
            f"  {c['component']}: {money(c['base'])} -> {money(c['head'])} "
            f"({money(c['delta'], signed=True)})"
            for c in cost["perComponent"]
        ]
    policy = result["policy"]
    if policy["new"] or policy["fixed"]:
        lines += ["", "Policy:"]
        lines += [f"  new: {finding_line(f)}" for f in policy["new"]]
        lines += [f"  fixed: {finding_line(f)}" for f in policy["fixed"]]
    return "\n".join(lines) + "\n"
