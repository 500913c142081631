"""The governance project's configuration (namespace ``mlops-platform-governance``), declared
once with pydantic: shape, JSON types, defaults and unknown keys. Value ranges and enums are the
components' (``GithubRepositoryGovernanceArgs`` and friends); :func:`to_config_error` and
:func:`args_error` turn either kind of failure into one line naming the config key.

Checks against the repository's own CI definitions (required checks the workflows produce,
environments they deploy to, tags they release from) live in :func:`check_against_workflows`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel

from mlops_platform.components import governance as gov
from mlops_platform.components import workflows
from mlops_platform.components._validate import ArgsError
from mlops_platform.infra.settings import ConfigError

PROJECT = "mlops-platform-governance"
NS = f"{PROJECT}:"
SECRETS = {
    "githubToken": "a GitHub token with administration rights on the repository",
    "githubAppPrivateKey": "the governance GitHub App's private key (PEM), with github.app",
    "gitlabToken": "a GitLab token with the Maintainer role on the project (api scope)",
}
BLOCKS = ("platformStacks", "github", "gitlab")
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
OWNER_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# The environment whose deploys must wait for an approval ("zero approvals in prod" is refused).
PRODUCTION = "prod"

Digits = Annotated[str, StringConstraints(pattern=r"^\d{1,12}$")]


class _Model(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, extra="forbid", frozen=True, use_attribute_docstrings=True
    )


class GithubApp(_Model):
    id: Digits
    """The App ID (settings page of the App), quoted."""
    installation_id: Digits
    """The App's installation ID on the repository's owner, quoted."""


class GithubEnvironment(_Model):
    deploy_branches: tuple[str, ...] = ()
    """Branch patterns that may deploy."""
    deploy_tags: tuple[str, ...] = gov.RELEASE_TAG_PATTERNS
    """Tag patterns that may deploy (default: the release tags)."""
    require_approval: bool = False
    """Deploys wait for a reviewer's approval."""
    reviewer_teams: tuple[str, ...] = ()
    """Team slugs who approve."""
    reviewer_users: tuple[str, ...] = ()
    """User logins who approve."""
    prevent_self_review: bool = True
    """The author of a run may not approve it."""
    wait_timer_minutes: int = 0
    """Minutes a deploy waits (0-43200)."""


class GithubConfig(_Model):
    repository: str
    """``owner/repo`` to govern."""
    plan: str
    """``free``, ``pro``, ``team`` or ``enterprise``."""
    visibility: str
    """``public``, ``private`` or ``internal``."""
    app: GithubApp | None = None
    """GitHub App authentication (with the secret githubAppPrivateKey); else githubToken."""
    base_url: str | None = None
    """API URL for GitHub Enterprise Server / data residency; default github.com."""
    workflows: str = "../.github/workflows"
    """The repository's workflows, relative to governance/: required checks, environments and
    release tags are checked against them."""
    required_checks: tuple[str, ...]
    """Status checks pull requests must pass (the workflows' job names)."""
    default_branch: str = "main"
    required_approvals: int = 1
    require_code_owner_review: bool = True
    dismiss_stale_reviews: bool = True
    require_last_push_approval: bool = True
    require_conversation_resolution: bool = True
    strict_status_checks: bool = True
    require_linear_history: bool = False
    allowed_merge_methods: tuple[str, ...] = ("merge", "squash", "rebase")
    require_signed_commits: bool = False
    release_teams: tuple[str, ...] = ()
    release_app_ids: tuple[int, ...] = ()
    release_tag_patterns: tuple[str, ...] = gov.RELEASE_TAG_PATTERNS
    environments: dict[str, GithubEnvironment] = Field(default_factory=dict)
    codeowners: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    allowed_actions: tuple[str, ...] = ()
    require_sha_pinning: bool = True
    accept_missing: tuple[str, ...] = ()


class GitlabEnvironment(_Model):
    deployer_groups: tuple[str, ...] = ()
    approver_groups: tuple[str, ...] = ()
    required_approvals: int = 0


class GitlabConfig(_Model):
    project: str
    """``group/project`` to govern."""
    tier: str
    """``free``, ``premium`` or ``ultimate``."""
    base_url: str | None = None
    """API URL of a self-managed instance (``https://gitlab.example.com/api/v4/``)."""
    ci_file: str = "../.gitlab-ci.yml"
    """The project's pipeline, relative to governance/ (its environments are checked)."""
    default_branch: str = "main"
    required_approvals: int = 1
    approver_groups: tuple[str, ...] = ()
    require_code_owner_approval: bool = True
    reset_approvals_on_push: bool = True
    release_tag_patterns: tuple[str, ...] = gov.RELEASE_TAG_PATTERNS
    environments: dict[str, GitlabEnvironment] = Field(default_factory=dict)
    accept_missing: tuple[str, ...] = ()


class GovernanceConfig(_Model):
    platform_stacks: dict[str, str] = Field(default_factory=dict)
    """Environment -> the platform stack it deploys (``organization/mlops-platform/prod``)."""
    github: GithubConfig | None = None
    gitlab: GitlabConfig | None = None


# --- errors in config terms ----------------------------------------------------------------------


def to_config_error(error: ValidationError, raw: Mapping[str, Any]) -> ConfigError:
    """The first pydantic error as one line: ``<ns><block>.<key>``, the value, what is wanted."""
    first = error.errors()[0]
    loc = [str(part) for part in first["loc"]]
    key = NS + ".".join(loc)
    if first["type"] == "missing":
        return ConfigError(key, _missing(), "required")
    if first["type"] == "extra_forbidden":
        return ConfigError(key, first["input"], "unknown key")
    return ConfigError(key, first["input"], first["msg"][:1].lower() + first["msg"][1:])


def _missing() -> Any:
    from mlops_platform.infra import settings

    return settings._MISSING


def args_error(prefix: str, error: ArgsError) -> ConfigError:
    """A component's ArgsError (``reviewer_teams[0]``) as a config key (``reviewerTeams[0]``)."""
    head, *tail = re.split(r"(?=[.\[])", error.field, maxsplit=1)
    allowed = re.sub(r"\b([a-z]+(?:_[a-z]+)+)\b", lambda m: to_camel(m.group(1)), error.allowed)
    return ConfigError(f"{NS}{prefix}{to_camel(head)}{''.join(tail)}", error.value, allowed)


# --- the repository's CI definitions -------------------------------------------------------------


def load_workflows(directory: Path, key: str) -> dict[str, dict[str, Any]]:
    """The workflow files of a directory, parsed; a missing or empty directory is a config error."""
    files = (
        sorted([*directory.glob("*.yml"), *directory.glob("*.yaml")]) if directory.is_dir() else []
    )
    if not files:
        raise ConfigError(key, str(directory), "expected a directory of GitHub workflow files")
    return {f.name: yaml.safe_load(f.read_text(encoding="utf-8")) or {} for f in files}


def check_against_workflows(
    config: GithubConfig, found: Mapping[str, Mapping[str, Any]], prefix: str = "github."
) -> None:
    """Refuses a GitHub config that disagrees with what the workflows do:

    - a required check no pull-request workflow produces (the merge would wait forever);
    - an environment a job deploys to that is not configured (GitHub would create it on first
      use, unprotected);
    - an environment whose deploy patterns refuse the refs its workflows deploy from;
    - a release tag filter of a workflow that the release tag patterns leave unprotected.
    """
    produced = workflows.pull_request_checks(found)
    for index, check in enumerate(config.required_checks):
        if check not in produced:
            raise ConfigError(
                f"{NS}{prefix}requiredChecks[{index}]",
                check,
                "no pull-request workflow produces this check; they produce: "
                + ", ".join(sorted(produced)),
            )
    for name, deployment in sorted(workflows.deployments(found).items()):
        env = config.environments.get(name)
        if env is None:
            raise ConfigError(
                f"{NS}{prefix}environments.{name}",
                _missing(),
                f"the workflows deploy to it ({', '.join(deployment.jobs)}): configure it, or "
                "GitHub creates it on first use without protection",
            )
        for kind, filters, allowed in (
            ("Branches", deployment.branches, env.deploy_branches),
            ("Tags", deployment.tags, env.deploy_tags),
        ):
            for pattern in sorted(filters):
                if not gov.covers(allowed, pattern):
                    raise ConfigError(
                        f"{NS}{prefix}environments.{name}.deploy{kind}",
                        list(allowed),
                        f"{', '.join(deployment.jobs)} deploy {name} from {pattern!r}: allow it",
                    )
        for pattern in sorted(deployment.tags):
            if not gov.covers(config.release_tag_patterns, pattern):
                raise ConfigError(
                    f"{NS}{prefix}releaseTagPatterns",
                    list(config.release_tag_patterns),
                    f"the workflows release from tags {pattern!r}: protect them",
                )


def check_gitlab_pipeline(config: GitlabConfig, doc: Mapping[str, Any], supported: bool) -> None:
    """Every environment a GitLab job deploys to is protected (where the tier can)."""
    if not supported:
        return
    for name, deployment in sorted(workflows.gitlab_deployments(doc).items()):
        if name not in config.environments:
            raise ConfigError(
                f"{NS}gitlab.environments.{name}",
                _missing(),
                f"the pipeline deploys to it ({', '.join(deployment.jobs)}): protect it",
            )


def check_approval_gates(config: GovernanceConfig) -> None:
    """The production environment always waits for an approval: never zero approvals there."""
    if config.github is not None and PRODUCTION in config.github.environments:
        env = config.github.environments[PRODUCTION]
        if not env.require_approval:
            raise ConfigError(
                f"{NS}github.environments.{PRODUCTION}.requireApproval",
                False,
                "prod deploys need an approval: set true with reviewerTeams or reviewerUsers",
            )
    if config.gitlab is not None and PRODUCTION in config.gitlab.environments:
        env_gl = config.gitlab.environments[PRODUCTION]
        if env_gl.required_approvals < 1:
            raise ConfigError(
                f"{NS}gitlab.environments.{PRODUCTION}.requiredApprovals",
                env_gl.required_approvals,
                "prod deploys need at least 1 approval (with approverGroups)",
            )


def check_platform_stacks(config: GovernanceConfig) -> None:
    for env, reference in config.platform_stacks.items():
        if not isinstance(reference, str) or not STACK_REFERENCE.match(reference):
            raise ConfigError(
                f"{NS}platformStacks.{env}",
                reference,
                "expected <organization>/<project>/<stack>, e.g. organization/mlops-platform/prod",
            )
        if config.github is not None and env not in config.github.environments:
            raise ConfigError(
                f"{NS}platformStacks.{env}",
                reference,
                f"no github.environments.{env} to hold its deploy variables",
            )
    if config.github is not None and not OWNER_REPOSITORY.match(config.github.repository):
        raise ConfigError(f"{NS}github.repository", config.github.repository, "expected owner/repo")
