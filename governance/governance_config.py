"""The governance project's configuration (namespace ``mlops-platform-governance``): one
declaration per setting, the platform's way (``infra/schema.py``).

The ``github`` and ``gitlab`` blocks are made with ``config_model`` from the declared fields of
``GithubRepositoryGovernanceArgs``, ``GitlabProjectGovernanceArgs`` and their environments
(type, range, default and one-line doc live on the Args field); the few keys that belong to this
project alone (the platform stacks, the App, the API URLs, where the CI definitions are) are
declared here, in the same way. ``__main__.py`` validates the stack's config with these models
(``infra.settings.validate``: one line naming the key, the value and what is allowed) and builds
the Args from them; ``make schema`` writes the JSON Schema of the stack files
(``docs/governance-config.schema.json``).

Checks against the repository's own CI definitions (required checks the workflows produce,
environments they deploy to, tags they release from) live in :func:`check_against_workflows`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic.alias_generators import to_snake

from mlops_platform.components import (
    DeploymentEnvironment,
    GithubRepositoryGovernanceArgs,
    GitlabProjectGovernanceArgs,
    ProtectedEnvironment,
    workflows,
)
from mlops_platform.components import governance as gov
from mlops_platform.components._schema import Keyed, Matches, config_model, declared_hint
from mlops_platform.components.runners import GithubRunnersArgs
from mlops_platform.infra import schema
from mlops_platform.infra.settings import MISSING, ConfigError

PROJECT = "mlops-platform-governance"
NS = f"{PROJECT}:"
SECRETS = {
    "githubToken": "a GitHub token with administration rights on the repository",
    "githubAppPrivateKey": "the governance GitHub App's private key (PEM), with github.app",
    "gitlabToken": "a GitLab token with the Maintainer role on the project (api scope)",
}
STACK_REFERENCE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
OWNER_REPOSITORY = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
# The environment whose deploys must wait for an approval ("zero approvals in prod" is refused).
PRODUCTION = "prod"
SCHEMA_FILE = "docs/governance-config.schema.json"

# --- the blocks ------------------------------------------------------------------------------

GithubAppConfig = config_model(
    "GithubAppConfig",
    extra={
        "id": (
            declared_hint(GithubRunnersArgs, "github_app_id"),
            ...,
            "The App ID (settings page of the App), quoted.",
        ),
        "installation_id": (
            declared_hint(GithubRunnersArgs, "github_app_installation_id"),
            ...,
            "The App's installation ID on the repository's owner, quoted.",
        ),
    },
    doc="The governance GitHub App (with the secret `githubAppPrivateKey`).",
)
GithubEnvironmentConfig = config_model(
    "GithubEnvironmentConfig",
    DeploymentEnvironment,
    exclude=("name", "variables"),  # the map key; the platform stacks' outputs
    doc="A deployment environment and who may deploy to it from where.",
)
GithubConfig = config_model(
    "GithubConfig",
    GithubRepositoryGovernanceArgs,
    # Fixed by this project (the secure posture), or the platform stacks' outputs.
    exclude=(
        "required_checks_app_id",
        "allow_github_owned_actions",
        "default_workflow_permissions",
        "allow_actions_to_approve_pull_requests",
        "variables",
    ),
    keyed={"environments": Keyed(GithubEnvironmentConfig)},
    defaults={"release_teams": ()},  # with releaseAppIds alone
    extra={
        "repository": (
            Annotated[str, Matches(OWNER_REPOSITORY, "owner/repo")],
            ...,
            "`owner/repo` to govern (the provider's owner and the repository).",
        ),
        "app": (
            GithubAppConfig | None,
            None,
            "GitHub App authentication (with the secret `githubAppPrivateKey`); else the secret "
            "`githubToken`.",
        ),
        "base_url": (
            str | None,
            None,
            "API URL for GitHub Enterprise Server or data residency; default github.com.",
        ),
        "workflows": (
            str,
            "../.github/workflows",
            "The repository's workflows, relative to governance/: required checks, "
            "environments and release tags are checked against them.",
        ),
    },
    doc="The GitHub repository: default-branch and tag rulesets, environments, Actions policy.",
)
GitlabEnvironmentConfig = config_model(
    "GitlabEnvironmentConfig",
    ProtectedEnvironment,
    exclude=("name",),  # the map key
    doc="A protected environment: who deploys, who approves.",
)
GitlabConfig = config_model(
    "GitlabConfig",
    GitlabProjectGovernanceArgs,
    exclude=("variables",),  # the platform stacks' outputs
    keyed={"environments": Keyed(GitlabEnvironmentConfig)},
    extra={
        "base_url": (
            str | None,
            None,
            "API URL of a self-managed instance (`https://gitlab.example.com/api/v4/`).",
        ),
        "ci_file": (
            str,
            "../.gitlab-ci.yml",
            "The project's pipeline, relative to governance/ (its environments are checked).",
        ),
    },
    doc="The GitLab project: protected branch and tags, approval rules, protected environments.",
)
GovernanceConfig = config_model(
    "GovernanceConfig",
    extra={
        "platform_stacks": (
            dict[
                str,
                Annotated[
                    str,
                    Matches(
                        STACK_REFERENCE,
                        "<organization>/<project>/<stack>, e.g. organization/mlops-platform/prod",
                    ),
                ],
            ],
            {},
            "`{<environment>: <organization>/<project>/<stack>}`: the platform stacks whose "
            "outputs become the CI variables; each environment must be a `github.environments` "
            "key.",
        ),
        "github": (GithubConfig | None, None, "The GitHub repository to govern."),
        "gitlab": (GitlabConfig | None, None, "The GitLab project to govern."),
        **{
            to_snake(key): (str | None, None, f"**Secret**: {text}.")
            for key, text in SECRETS.items()
        },
    },
    doc="The governance project's config, as the program reads it: project keys without their "
    "namespace.",
)
STACK_FILES = schema.ProjectConfig(
    PROJECT, GovernanceConfig, SECRETS, SCHEMA_FILE, "governance/governance_config.py"
)


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
                MISSING,
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
                MISSING,
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


def check_platform_stacks(config: Any) -> None:
    """Each platform stack's environment is a GitHub environment (its deploy variables go there)."""
    for env, reference in config.platform_stacks.items():
        if config.github is not None and env not in config.github.environments:
            raise ConfigError(
                f"{NS}platformStacks.{env}",
                reference,
                f"no github.environments.{env} to hold its deploy variables",
            )


if __name__ == "__main__":  # `make schema`: python governance/governance_config.py [--check]
    sys.exit(schema.main(sys.argv[1:], STACK_FILES))
