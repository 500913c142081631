"""Governance of the repository that deploys the platform: merge policy, release tags,
deployment environments and CI variables, on GitHub and (optionally) GitLab.

A Pulumi project of its own (``mlops-platform-governance``), so that the platform's stacks never
hold a GitHub or GitLab token. It reads only this project's config (``mlops-platform-governance:*``,
see governance_config.py and README.md) and the platform stacks' outputs, through
``pulumi.StackReference``: the role ARNs, region, state backend and runner labels the workflows
read are never typed by hand. Everything is validated before the first resource is registered,
and a bad value stops with one line naming the key.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pulumi
import pulumi_github as github
import pulumi_gitlab as gitlab
import yaml

from mlops_platform.components import (
    DeploymentEnvironment,
    GithubRepositoryGovernance,
    GithubRepositoryGovernanceArgs,
    GitlabProjectGovernance,
    GitlabProjectGovernanceArgs,
    ProjectVariable,
    ProtectedEnvironment,
)
from mlops_platform.components import governance as gov
from mlops_platform.infra import schema, settings
from mlops_platform.infra.settings import MISSING, ConfigError, SecretValue, all_config

HERE = Path(__file__).resolve().parent
cfg = schema.project_module(HERE, "governance_config")

# The workflows' fallback when a stack has no runner scale sets (runs-on: ... || 'ubuntu-24.04').
HOSTED_RUNNER = "ubuntu-24.04"


def read_config() -> Any:
    """The project's config, validated against its declarations (``governance_config.py``):
    unknown keys, JSON types, ranges and patterns, secrets only as secrets."""
    config = settings.read(cfg.STACK_FILES)
    if config.github is None and config.gitlab is None:
        raise ConfigError(cfg.NS + "github", MISSING, "configure github, gitlab or both")
    cfg.check_platform_stacks(config)
    cfg.check_approval_gates(config)
    return config


def secret(name: str, needed_by: str) -> pulumi.Output[str]:
    return settings.secret(cfg.NS, name, all_config(), cfg.NS + needed_by, cfg.SECRETS)


# --- what the platform stacks export -------------------------------------------------------------


class Platform:
    """The platform stacks' outputs the workflows need, per environment."""

    def __init__(self, stacks: dict[str, str]) -> None:
        self.refs = {env: pulumi.StackReference(ref) for env, ref in sorted(stacks.items())}
        self._region: pulumi.Output[str] | None = None

    def output(self, env: str, name: str) -> pulumi.Output[Any]:
        return self.refs[env].require_output(name)

    def region(self) -> pulumi.Output[str]:
        """One region for every stack: the preview and drift jobs read one AWS_REGION."""
        if self._region is None:
            self._region = self._agreed_region()
        return self._region

    def _agreed_region(self) -> pulumi.Output[str]:

        def agree(regions: list[str]) -> str:
            found = dict(zip(self.refs, regions, strict=True))
            if len(set(regions)) != 1:
                # Known only once the references resolve: an error fails the update (raising
                # inside an apply would leave the SDK's pending work behind).
                pulumi.log.error(
                    str(
                        ConfigError(
                            cfg.NS + "platformStacks",
                            found,
                            "the stacks' region outputs differ, and the workflows read one "
                            "AWS_REGION",
                        )
                    )
                )
            return regions[0]

        return pulumi.Output.all(*[self.output(env, "region") for env in self.refs]).apply(agree)

    def runner(self, env: str) -> pulumi.Output[str]:
        labels = self.refs[env].get_output("githubRunnerLabels")
        return labels.apply(
            lambda v: (json.loads(v) if isinstance(v, str) else v or [HOSTED_RUNNER])[0]
        )


def github_variables(platform: Platform) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Repository variables and per-environment variables, as the workflows read them."""
    repo: dict[str, Any] = {}
    per_env: dict[str, dict[str, Any]] = {}
    if not platform.refs:
        return repo, per_env
    repo["AWS_REGION"] = platform.region()
    for env in platform.refs:
        upper = env.upper()
        repo[f"AWS_PREVIEW_ROLE_ARN_{upper}"] = platform.output(env, "ciPreviewRoleArn")
        repo[f"PULUMI_BACKEND_URL_{upper}"] = platform.output(env, "ciBackendUrl")
        repo[f"PULUMI_RUNNER_{upper}"] = platform.runner(env)
        per_env[env] = {
            "AWS_DEPLOY_ROLE_ARN": platform.output(env, "ciDeployRoleArn"),
            "PULUMI_BACKEND_URL": platform.output(env, "ciBackendUrl"),
        }
    return repo, per_env


def gitlab_variables(platform: Platform) -> list[ProjectVariable]:
    """CI/CD variables of .gitlab-ci.yml: deploy roles protected (tag and main pipelines only),
    what merge-request previews need unprotected."""
    if not platform.refs:
        return []
    variables = [ProjectVariable(key="AWS_REGION", value=platform.region(), protected=False)]
    for env in platform.refs:
        upper = env.upper()
        variables += [
            ProjectVariable(
                key=f"AWS_PREVIEW_ROLE_ARN_{upper}",
                value=platform.output(env, "ciGitlabPreviewRoleArn"),
                protected=False,
            ),
            ProjectVariable(
                key=f"AWS_DEPLOY_ROLE_ARN_{upper}",
                value=platform.output(env, "ciGitlabDeployRoleArn"),
                protected=True,
            ),
            ProjectVariable(
                key=f"PULUMI_BACKEND_URL_{upper}",
                value=platform.output(env, "ciBackendUrl"),
                protected=False,
            ),
        ]
    return variables


# --- the two hosts ---------------------------------------------------------------------------


def host_args(
    config: Any,
    block: str,
    args_class: type,
    environment_class: type,
    per_environment: Callable[[str], dict[str, Any]],
    **wired: Any,
) -> Any:
    """A host's Args from its validated block (the keys it sets; the Args' defaults for the
    rest), its environments from the block's map by name, plus what ``wired`` gives; a
    cross-field ArgsError names the config key."""
    key = cfg.NS + block
    names = settings.config_names(type(config), project=cfg.PROJECT)
    environments = tuple(
        settings.build_args(
            environment_class,
            f"{key}.environments.{name}",
            names,
            name=name,
            **per_environment(name),
            **settings.set_values(env),
        )
        for name, env in config.environments.items()
    )
    fields = settings.set_values(config, args_class)
    fields.pop("environments", None)
    return settings.build_args(
        args_class, key, names, **{**fields, **wired}, environments=environments
    )


def github_args(config: Any, platform: Platform) -> GithubRepositoryGovernanceArgs:
    found = cfg.load_workflows((HERE / config.workflows).resolve(), cfg.NS + "github.workflows")
    cfg.check_against_workflows(config, found)
    repo_vars, env_vars = github_variables(platform)
    return host_args(
        config,
        "github",
        GithubRepositoryGovernanceArgs,
        DeploymentEnvironment,
        lambda env: {"variables": env_vars.get(env, {})},
        repository=config.repository.split("/", 1)[1],
        release_teams=tuple(config.release_teams),
        variables=repo_vars,
    )


def github_provider(config: Any) -> github.Provider:
    owner = config.repository.split("/", 1)[0]
    has_token = cfg.NS + "githubToken" in all_config()
    if config.app is not None and has_token:
        raise ConfigError(
            cfg.NS + "githubToken", SecretValue(), "give github.app or githubToken, not both"
        )
    if config.app is not None:
        auth: dict[str, Any] = {
            "app_auth": {
                "id": config.app.id,
                "installation_id": config.app.installation_id,
                "pem_file": secret("githubAppPrivateKey", "github.app"),
            }
        }
    else:
        if config.codeowners:
            # Only the App is a bypass actor (releaseAppIds): a token's user could write the
            # file once, before the ruleset exists, and never update it again.
            raise ConfigError(
                cfg.NS + "github.codeowners",
                sorted(config.codeowners),
                "needs github.app: CODEOWNERS is committed to the protected branch, which only "
                "the App (in releaseAppIds) may write to; with githubToken, manage it in a PR",
            )
        auth = {"token": secret("githubToken", "github")}
    return github.Provider("github", owner=owner, base_url=config.base_url, **auth)


def gitlab_args(config: Any, platform: Platform) -> GitlabProjectGovernanceArgs:
    args = host_args(
        config,
        "gitlab",
        GitlabProjectGovernanceArgs,
        ProtectedEnvironment,
        lambda env: {},
        variables=tuple(gitlab_variables(platform)),
    )
    ci_file = (HERE / config.ci_file).resolve()
    if not ci_file.is_file():
        raise ConfigError(
            cfg.NS + "gitlab.ciFile", str(ci_file), "expected the project's .gitlab-ci.yml"
        )
    doc = yaml.safe_load(ci_file.read_text(encoding="utf-8")) or {}
    cfg.check_gitlab_pipeline(config, doc, args.supports(gov.PROTECTED_ENVIRONMENTS))
    return args


def main() -> None:
    config = read_config()
    platform = Platform(config.platform_stacks)
    # Everything validated first: a bad value leaves nothing half-built.
    gh_args = github_args(config.github, platform) if config.github is not None else None
    gl_args = gitlab_args(config.gitlab, platform) if config.gitlab is not None else None
    gh_provider = github_provider(config.github) if config.github is not None else None
    gl_provider = None
    if config.gitlab is not None:
        gl_provider = gitlab.Provider(
            "gitlab", token=secret("gitlabToken", "gitlab"), base_url=config.gitlab.base_url
        )

    gaps: list[str] = []
    if gh_args is not None:
        repo = GithubRepositoryGovernance(
            "github", gh_args, pulumi.ResourceOptions(providers={"github": gh_provider})
        )
        gaps += [f"github: {gap}" for gap in repo.gaps]
        pulumi.export("githubRepository", config.github.repository)
        pulumi.export("githubEnvironments", repo.environment_names)
        if repo.branch_ruleset_id is not None:
            pulumi.export("githubBranchRulesetId", repo.branch_ruleset_id)
            pulumi.export("githubTagRulesetId", repo.tag_ruleset_id)
    if gl_args is not None:
        project = GitlabProjectGovernance(
            "gitlab", gl_args, pulumi.ResourceOptions(providers={"gitlab": gl_provider})
        )
        gaps += [f"gitlab: {gap}" for gap in project.gaps]
        pulumi.export("gitlabProject", config.gitlab.project)
        pulumi.export("gitlabBranchProtectionId", project.branch_protection_id)
    for gap in gaps:
        pulumi.log.warn(f"governance gap (accepted): {gap}")
    pulumi.export("governanceGaps", gaps)


main()
