"""The offline plan as Terraform plan JSON (``terraform show -json``), for the scanners platform
teams already run on Terraform: checkov, trivy, conftest/OPA policies written for Terraform.

    python -m infra.plan --stack prod --format terraform-plan > prod.tfplan.json
    checkov -f prod.tfplan.json --framework terraform_plan

Every cloud resource of the plan becomes a ``managed`` resource of the root module, in the
terraform-provider-aws (or kubernetes/helm provider) shape:

- **Types** follow from the Pulumi token: pulumi-aws bridges ``aws_<module>_<name>`` to
  ``aws:<module>/<name>:<Name>``, so the rule inverts it; the modules whose Terraform names carry
  no module prefix (EC2's VPC resources: ``aws_vpc``, ``aws_subnet``, ...) and the few renamed
  resources are in :data:`TYPE_RENAMES`. Kubernetes kinds are ``kubernetes_<kind>_<version>``
  (the kubernetes provider's names); a Helm release is ``helm_release``.
- **Attributes**: the engine's camelCase names back to snake_case. The provider SDK's own type
  annotations (``pulumi_aws.<module>.outputs``) say which properties are nested blocks: a block
  Pulumi flattened to one object (Terraform ``MaxItems: 1``) becomes a list of one, as Terraform
  writes it. pulumi-aws pluralizes the names of list attributes whose Terraform name is singular
  (``rule`` -> ``rules``, ``client_id_list`` -> ``clientIdLists``): a list of nested blocks is
  singularized, a list of scalars kept; the exceptions to both, and the properties pulumi-aws
  renamed outright (``topic`` is ``topic_arn``), are in :data:`PROPERTY_RENAMES` (from
  pulumi-aws's ``bridge-metadata.json``, ``renamedProperties``).
- **References**: where an input is another resource's output (the engine's property
  dependencies), the value is unknown until apply, as in a first ``terraform plan``: it is left
  out of ``planned_values`` (``after_unknown: true``) and ``configuration`` carries
  ``references`` (``aws_s3_bucket.<name>.id``), which is how scanners connect a bucket to its
  public access block, encryption, versioning and policy. Values that merely embed an output (an
  ARN inside a policy document) stay known and carry the reference as well.
- Secret values stay ``"[secret]"``; Pulumi components are not Terraform resources and are left
  out (``resource_changes`` lists cloud resources only).
"""

from __future__ import annotations

import functools
import importlib
import re
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from mlops_platform.infra.diff import string_leaves

FORMAT_VERSION = "1.2"
TERRAFORM_VERSION = "1.9.8"
"""The ``terraform show -json`` format this export follows (scanners only check it exists)."""

PROVIDERS = {
    "aws": "registry.terraform.io/hashicorp/aws",
    "kubernetes": "registry.terraform.io/hashicorp/kubernetes",
    "helm": "registry.terraform.io/hashicorp/helm",
}

# Pulumi tokens whose Terraform type is not ``aws_<module>_<snake name>`` (pulumi-aws
# bridge-metadata.json, ``renames.resources``): EC2's VPC-level resources carry no module prefix.
TYPE_RENAMES: dict[str, str] = {
    "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup": "aws_default_security_group",
    "aws:ec2/eip:Eip": "aws_eip",
    "aws:ec2/flowLog:FlowLog": "aws_flow_log",
    "aws:ec2/instance:Instance": "aws_instance",
    "aws:ec2/internetGateway:InternetGateway": "aws_internet_gateway",
    "aws:ec2/launchTemplate:LaunchTemplate": "aws_launch_template",
    "aws:ec2/natGateway:NatGateway": "aws_nat_gateway",
    "aws:ec2/route:Route": "aws_route",
    "aws:ec2/routeTable:RouteTable": "aws_route_table",
    "aws:ec2/routeTableAssociation:RouteTableAssociation": "aws_route_table_association",
    "aws:ec2/securityGroup:SecurityGroup": "aws_security_group",
    "aws:ec2/subnet:Subnet": "aws_subnet",
    "aws:ec2/vpc:Vpc": "aws_vpc",
    "aws:ec2/vpcEndpoint:VpcEndpoint": "aws_vpc_endpoint",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": "aws_iam_openid_connect_provider",
    "kubernetes:helm.sh/v3:Release": "helm_release",
}

_SAME = None
# (token of the resource or nested type, Pulumi property) -> Terraform attribute, where the
# general rule (blocks singular, scalar lists as they are) does not give it.
PROPERTY_RENAMES: dict[tuple[str, str], str] = {
    # Renamed outright.
    ("aws:sns/topicSubscription:TopicSubscription", "topic"): "topic_arn",
    # Scalar lists Terraform names in the singular.
    ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "clientIdLists"): "client_id_list",
    ("aws:iam/openIdConnectProvider:OpenIdConnectProvider", "thumbprintLists"): "thumbprint_list",
    # Block lists Terraform names in the plural.
    ("aws:ec2/launchTemplate:LaunchTemplate", "blockDeviceMappings"): "block_device_mappings",
    ("aws:ec2/launchTemplate:LaunchTemplate", "tagSpecifications"): "tag_specifications",
    ("aws:ec2/launchTemplate:LaunchTemplate", "networkInterfaces"): "network_interfaces",
    (
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "productionVariants",
    ): "production_variants",
    (
        "aws:sagemaker/endpointConfiguration:EndpointConfiguration",
        "shadowProductionVariants",
    ): "shadow_production_variants",
    (
        "aws:sagemaker/EndpointConfigurationDataCaptureConfig:EndpointConfigurationDataCaptureConfig",
        "captureOptions",
    ): "capture_options",
    (
        "aws:sagemaker/EndpointDeploymentConfigAutoRollbackConfiguration:"
        "EndpointDeploymentConfigAutoRollbackConfiguration",
        "alarms",
    ): "alarms",
    ("kubernetes:networking.k8s.io/v1:NetworkPolicyIngressRule", "ports"): "ports",
    ("kubernetes:networking.k8s.io/v1:NetworkPolicyEgressRule", "ports"): "ports",
    # The kubernetes provider takes a Secret's plain strings as ``data``.
    ("kubernetes:core/v1:Secret", "stringData"): "data",
}

# Properties the engine records that are no Terraform arguments.
IGNORED = frozenset({"__defaults", "__meta", "__self__"})
ADDRESS_NAME = re.compile(r"[^A-Za-z0-9_-]")


class ExportError(Exception):
    """The plan cannot be exported (a resource type with no Terraform counterpart)."""


# --- names ---------------------------------------------------------------------------------------


def snake(name: str) -> str:
    """``kmsMasterKeyId`` -> ``kms_master_key_id``; ``ipv6CidrBlock`` -> ``ipv6_cidr_block``."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name)
    out = re.sub(r"(?<=[A-Z])([A-Z][a-z])", r"_\1", out)
    return out.lower()


def singular(name: str) -> str:
    """The Terraform block name pulumi-aws pluralized: ``rules`` -> ``rule``,
    ``metric_queries`` -> ``metric_query``, ``ingress`` stays."""
    if name.endswith("ies"):
        return name[:-3] + "y"
    if name.endswith(("sses", "shes", "ches", "xes", "uses")):
        return name[:-2]
    if name.endswith("s") and not name.endswith(("ss", "us", "is")):
        return name[:-1]
    return name


def terraform_type(token: str) -> str:
    """The Terraform resource type of a Pulumi resource token."""
    if token in TYPE_RENAMES:
        return TYPE_RENAMES[token]
    package, module, name = token.split(":")
    if package == "aws":
        return f"aws_{module.split('/')[0].lower()}_{snake(name)}"
    if package == "kubernetes":
        if is_custom_kind(token):
            return "kubernetes_manifest"  # a CustomResource: the kind is in the manifest
        group_version = module.split("/")
        return f"kubernetes_{snake(name)}_{group_version[-1]}"
    raise ExportError(f"{token}: no Terraform resource type for package {package!r}")


def is_custom_kind(token: str) -> bool:
    """A Kubernetes kind the SDK has no class for (a CRD's, such as Argo's WorkflowTemplate):
    Terraform manages it as a ``kubernetes_manifest``."""
    try:
        resource_class(token)
    except ExportError:
        return True
    return False


def provider_of(tf_type: str) -> str:
    return tf_type.split("_", 1)[0]


# --- the provider SDKs' type information ---------------------------------------------------------


@dataclass(frozen=True)
class Prop:
    """One property of a resource or nested type, as the Pulumi SDK annotates it."""

    shape: str  # "scalar", "map", "block" (one nested object) or "blocks" (a list of them)
    nested: type | None = None
    nested_token: str | None = None


def _sdk_module(token: str):
    package, module, _ = token.split(":")
    if package == "aws":
        return importlib.import_module(f"pulumi_aws.{module.split('/')[0]}")
    if package == "kubernetes":
        group, version = module.split("/")
        try:
            return importlib.import_module(f"pulumi_kubernetes.{group.split('.')[0]}.{version}")
        except ModuleNotFoundError:
            raise ExportError(f"{token}: no Pulumi SDK module for {module}") from None
    raise ExportError(f"{token}: no Pulumi SDK for package {package!r}")


@functools.cache
def resource_class(token: str) -> type:
    name = token.rsplit(":", 1)[1]
    cls = getattr(_sdk_module(token), name, None)
    if cls is None:
        raise ExportError(f"{token}: no class {name} in the provider SDK")
    return cls


def _token_of(cls: type, resource_token: str) -> str:
    """Nested type tokens: ``aws:s3/BucketLifecycleConfigurationRule:...`` (pulumi-aws) or
    ``kubernetes:networking.k8s.io/v1:NetworkPolicyIngressRule``."""
    package, module, _ = resource_token.split(":")
    if package == "aws":
        return f"aws:{module.split('/')[0]}/{cls.__name__}:{cls.__name__}"
    return f"{package}:{module}:{cls.__name__}"


def _resolve(annotation: Any, module_globals: dict) -> Any:
    """A forward reference such as ``'outputs.ClusterVpcConfig'``, looked up attribute by
    attribute in the SDK module that wrote it (no ``eval``)."""
    if isinstance(annotation, typing.ForwardRef):
        annotation = annotation.__forward_arg__
    if not isinstance(annotation, str):
        return annotation
    head, *rest = annotation.split(".")
    value = module_globals[head]
    for part in rest:
        value = getattr(value, part)
    return value


def _shape(annotation: Any, module_globals: dict, resource_token: str) -> Prop:
    """Reads ``Output[Optional[Sequence['outputs.X']]]`` and the like."""
    resolved = _resolve(annotation, module_globals)
    origin = typing.get_origin(resolved)
    args = typing.get_args(resolved)
    if origin is typing.Union:  # Optional[...]
        inner = [a for a in args if a is not type(None)]
        return _shape(inner[0], module_globals, resource_token) if inner else Prop("scalar")
    if origin is not None and getattr(origin, "__name__", "") == "Output":
        return _shape(args[0], module_globals, resource_token)
    if getattr(resolved, "__name__", "") == "Output" and args:
        return _shape(args[0], module_globals, resource_token)
    if origin in (Mapping, dict, typing.Mapping) or getattr(origin, "__name__", "") in (
        "Mapping",
        "dict",
    ):
        return Prop("map")
    if origin is not None and getattr(origin, "__name__", "") in ("Sequence", "list"):
        element = _shape(args[0], module_globals, resource_token) if args else Prop("scalar")
        if element.shape == "block":
            return Prop("blocks", element.nested, element.nested_token)
        return Prop("list")
    if isinstance(resolved, type) and hasattr(resolved, "_pulumi_output_type_marker"):
        return Prop("block", resolved, _token_of(resolved, resource_token))
    if isinstance(resolved, type) and _is_output_type(resolved):
        return Prop("block", resolved, _token_of(resolved, resource_token))
    return Prop("scalar")


def _is_output_type(cls: type) -> bool:
    from pulumi._types import _py_properties

    try:
        return bool(_py_properties(cls)) and cls.__module__.endswith("outputs")
    except TypeError:
        return False


@functools.cache
def properties(cls: type, token: str) -> dict[str, Prop]:
    """Pulumi property name -> :class:`Prop` of a resource or nested output type."""
    import sys

    from pulumi._types import _py_properties

    module_globals = dict(vars(sys.modules[cls.__module__]))
    result: dict[str, Prop] = {}
    for _, pulumi_name, prop in _py_properties(cls):
        annotation = (getattr(prop.fget, "__annotations__", None) or {}).get("return")
        if annotation is None:
            result[pulumi_name] = Prop("scalar")
            continue
        try:
            result[pulumi_name] = _shape(annotation, module_globals, token)
        except Exception:  # an annotation we cannot read: keep the value as it is
            result[pulumi_name] = Prop("scalar")
    return result


def attribute_name(owner_token: str, pulumi_name: str, prop: Prop | None) -> str:
    """The Terraform attribute of a Pulumi property of ``owner_token``."""
    renamed = PROPERTY_RENAMES.get((owner_token, pulumi_name))
    if renamed is not None:
        return renamed
    name = snake(pulumi_name)
    if prop is not None and prop.shape == "blocks":
        return singular(name)
    return name


# --- values --------------------------------------------------------------------------------------


@dataclass
class _Converted:
    values: dict[str, Any] = field(default_factory=dict)
    expressions: dict[str, Any] = field(default_factory=dict)
    unknown: dict[str, Any] = field(default_factory=dict)


class _Exporter:
    def __init__(self, resources: list[dict[str, Any]], property_dependencies: Mapping) -> None:
        self.resources = resources
        self.property_dependencies = property_dependencies
        self.addresses: dict[str, str] = {}
        self.by_urn = {r["urn"]: r for r in resources}
        seen: set[str] = set()
        for res in resources:
            if not _exported(res):
                continue
            tf_type = terraform_type(res["type"])
            base = ADDRESS_NAME.sub("_", res["name"])
            name, index = base, 2
            while f"{tf_type}.{name}" in seen:
                name, index = f"{base}_{index}", index + 1
            address = f"{tf_type}.{name}"
            seen.add(address)
            self.addresses[res["urn"]] = address

    # -- references

    def _output_attributes(self, dep: dict[str, Any]) -> list[tuple[str, str]]:
        """(value, Terraform attribute) of a dependency, ``id`` first."""
        pairs: list[tuple[str, str]] = []
        if isinstance(dep.get("id"), str) and dep["id"]:
            pairs.append((dep["id"], "id"))
        token = dep["type"]
        props = _safe_properties(token)
        for key, value in sorted((dep.get("outputs") or {}).items()):
            if isinstance(value, str) and value and key != "id":
                pairs.append((value, attribute_name(token, key, props.get(key))))
        return pairs

    def _references(self, value: str, deps: Iterable[str]) -> tuple[list[str], bool]:
        """References of a string input to the dependencies' outputs, and whether the whole
        value is one output (then it is unknown until apply)."""
        refs: list[str] = []
        whole = False
        for urn in deps:
            address = self.addresses.get(urn)
            dep = self.by_urn.get(urn)
            if address is None or dep is None:
                continue
            outputs = self._output_attributes(dep)
            exact = [attribute for output, attribute in outputs if output == value]
            # An ARN embeds the id: the longest output found in the text is the one used.
            embedded = sorted(
                (
                    (len(output), attribute)
                    for output, attribute in outputs
                    if len(output) >= 12 and output in value
                ),
                key=lambda item: -item[0],
            )
            if exact:
                refs += [f"{address}.{exact[0]}", address]
                whole = True
            elif embedded:
                refs += [f"{address}.{embedded[0][1]}", address]
        return list(dict.fromkeys(refs)), whole

    # -- conversion

    def convert(
        self, token: str, cls: type | None, inputs: Mapping[str, Any], deps: Mapping[str, list]
    ) -> _Converted:
        props = properties(cls, token) if cls is not None else {}
        out = _Converted()
        for key, value in sorted(inputs.items()):
            if key in IGNORED or value is None:
                continue
            prop = props.get(key)
            name = attribute_name(token, key, prop)
            self._set(out, name, value, prop, deps.get(key, ()))
        return out

    def _set(self, out: _Converted, name: str, value: Any, prop: Prop | None, deps) -> None:
        shape = prop.shape if prop is not None else None
        if shape == "block" and isinstance(value, dict):
            child = self.convert(prop.nested_token, prop.nested, value, _all(value, deps))
            out.values[name] = [child.values]
            out.expressions[name] = [child.expressions]
            if child.unknown:
                out.unknown[name] = [child.unknown]
            return
        if shape == "blocks" and isinstance(value, list):
            children = [
                self.convert(prop.nested_token, prop.nested, item, _all(item, deps))
                if isinstance(item, dict)
                else _Converted(values=item)
                for item in value
            ]
            out.values[name] = [c.values for c in children]
            out.expressions[name] = [c.expressions for c in children]
            if any(c.unknown for c in children):
                out.unknown[name] = [c.unknown for c in children]
            return
        refs, whole = self._leaf_references(value, deps)
        if refs:
            out.expressions[name] = {"references": refs}
        else:
            out.expressions[name] = {"constant_value": value}
        if whole:
            out.unknown[name] = True
        else:
            out.values[name] = value

    def _leaf_references(self, value: Any, deps) -> tuple[list[str], bool]:
        if not deps:
            return [], False
        if isinstance(value, str):
            return self._references(value, deps)
        strings = [s for _, s in string_leaves(value)]
        refs: list[str] = []
        for text in strings:
            refs += self._references(text, deps)[0]
        return list(dict.fromkeys(refs)), False


def _all(value: Any, deps) -> dict[str, Any]:
    """Nested keys inherit the dependencies of the top-level property they belong to."""
    return {key: deps for key in value} if isinstance(value, dict) else {}


def _exported(res: dict[str, Any]) -> bool:
    """Cloud resources of the AWS and Kubernetes providers (not components, providers, the
    stack, reads, or the docker provider's local image builds)."""
    return bool(res.get("custom")) and res["type"].split(":", 1)[0] in ("aws", "kubernetes")


def _safe_properties(token: str) -> dict[str, Prop]:
    try:
        return properties(resource_class(token), token)
    except ExportError:
        return {}


def _helm_release(inputs: Mapping[str, Any]) -> dict[str, Any]:
    """``helm_release``: values as one YAML document, the repository as an argument."""
    converted = {snake(k): v for k, v in inputs.items() if k not in ("values", "repositoryOpts")}
    converted.pop("status", None)
    repository = (inputs.get("repositoryOpts") or {}).get("repo")
    if repository:
        converted["repository"] = repository
    if inputs.get("values") is not None:
        converted["values"] = [yaml.safe_dump(inputs["values"], sort_keys=True)]
    return converted


def _manifest(token: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
    """A CustomResource's object as ``kubernetes_manifest`` takes it."""
    _, module, kind = token.split(":")
    return {
        "apiVersion": module,
        "kind": kind,
        **{k: v for k, v in inputs.items() if k not in ("apiVersion", "kind")},
    }


# --- the document --------------------------------------------------------------------------------


def export(
    plan: Mapping[str, Any], property_dependencies: Mapping[str, Mapping[str, list[str]]]
) -> dict[str, Any]:
    """The Terraform plan JSON of a plan in the JSON contract (``Plan.to_json()``)."""
    resources = list(plan["resources"])
    exporter = _Exporter(resources, property_dependencies)
    planned: list[dict[str, Any]] = []
    changes: list[dict[str, Any]] = []
    configuration: list[dict[str, Any]] = []
    for res in resources:
        address = exporter.addresses.get(res["urn"])
        if address is None:
            continue
        tf_type, name = address.split(".", 1)
        provider = provider_of(tf_type)
        deps = property_dependencies.get(res["urn"]) or {
            key: res.get("dependencies", []) for key in res["inputs"]
        }
        if tf_type in ("helm_release", "kubernetes_manifest"):
            values = (
                _helm_release(res["inputs"])
                if tf_type == "helm_release"
                else {"manifest": _manifest(res["type"], res["inputs"])}
            )
            converted = _Converted(
                values=values, expressions={k: {"constant_value": v} for k, v in values.items()}
            )
        else:
            converted = exporter.convert(
                res["type"], resource_class(res["type"]), res["inputs"], deps
            )
        unknown = {"id": True, **converted.unknown}
        if "arn" in (res.get("outputs") or {}) and "arn" not in converted.values:
            unknown["arn"] = True
        planned.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": PROVIDERS[provider],
                "schema_version": 0,
                "values": converted.values,
                "sensitive_values": {},
            }
        )
        changes.append(
            {
                "address": address,
                "mode": "managed",
                "type": tf_type,
                "name": name,
                "provider_name": PROVIDERS[provider],
                "change": {
                    "actions": ["create"],
                    "before": None,
                    "after": converted.values,
                    "after_unknown": unknown,
                    "before_sensitive": False,
                    "after_sensitive": {},
                },
            }
        )
        entry: dict[str, Any] = {
            "address": address,
            "mode": "managed",
            "type": tf_type,
            "name": name,
            "provider_config_key": provider,
            "expressions": converted.expressions,
            "schema_version": 0,
        }
        depends_on = [
            exporter.addresses[urn]
            for urn in res.get("dependencies", [])
            if urn in exporter.addresses and urn != res["urn"]
        ]
        if depends_on:
            entry["depends_on"] = sorted(set(depends_on))
        configuration.append(entry)
    return {
        "format_version": FORMAT_VERSION,
        "terraform_version": TERRAFORM_VERSION,
        "planned_values": {"root_module": {"resources": planned}},
        "resource_changes": changes,
        "configuration": {
            "provider_config": _provider_config(resources),
            "root_module": {"resources": configuration},
        },
        "relevant_attributes": [],
        "timestamp": "1970-01-01T00:00:00Z",
        "applyable": True,
        "complete": True,
        "errored": False,
    }


def _provider_config(resources: list[dict[str, Any]]) -> dict[str, Any]:
    config: dict[str, Any] = {}
    for res in resources:
        if res["type"] == "pulumi:providers:aws" and "aws" not in config:
            inputs = res.get("inputs") or {}
            expressions = {
                key: {"constant_value": inputs[pulumi_key]}
                for pulumi_key, key in (
                    ("region", "region"),
                    ("allowedAccountIds", "allowed_account_ids"),
                )
                if inputs.get(pulumi_key) is not None
            }
            config["aws"] = {
                "name": "aws",
                "full_name": PROVIDERS["aws"],
                "expressions": expressions,
            }
    for name in ("kubernetes", "helm"):
        config.setdefault(name, {"name": name, "full_name": PROVIDERS[name]})
    return config
