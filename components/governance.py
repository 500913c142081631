"""Repository governance: ``GithubRepositoryGovernance`` and ``GitlabProjectGovernance`` make a
repository's merge policy, release tags, deployment environments and CI variables code.

- GitHub: a default-branch ruleset (pull requests with N approvals, code-owner review, stale
  reviews dismissed, last-push approval, resolved conversations, strict required status checks,
  no force push or deletion, optional linear history), a tag ruleset (only the release team or
  app creates, moves or deletes release tags), deployment environments (required reviewers,
  no self-review, wait timer, deployments only from named branches and tags), Actions
  variables, the default ``GITHUB_TOKEN`` read-only, actions limited to an allow-list and
  pinned to full commit SHAs, and a ``CODEOWNERS`` file.
- GitLab: a protected default branch (merge by developers, push by no one) with approval
  rules, protected release tags, protected environments with approvers, CI/CD variables.

GitHub and GitLab plans differ in what they offer; the Args say which plan the repository is on
and refuse a setting the plan lacks unless it is listed in ``accept_missing`` (never a silent
half-configuration); what was left out is the component's ``gaps`` output.

Ref patterns follow GitHub's fnmatch rules: ``*`` matches within one path segment (never
``/``), ``**`` across segments, ``?`` one character. Release tags are ``v*`` (the platform) and
``*/v*`` (``<model>/vX.Y.Z``, one per model, whatever the model is called).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, get_args

import pulumi
import pulumi_github as github
import pulumi_gitlab as gitlab
from pydantic import Field

from mlops_platform.components._docs import SecureDefault
from mlops_platform.components._schema import Allowed, Matches, OneOf, between, check_declared
from mlops_platform.components._validate import ArgsError
from mlops_platform.components.ci import BRANCH as BRANCH_NAME
from mlops_platform.components.ci import ENVIRONMENT as ENVIRONMENT_NAME
from mlops_platform.components.ci import GITLAB_PROJECT as GITLAB_PROJECT_PATH

GITHUB_TYPE = "mlops:governance:GithubRepository"
GITLAB_TYPE = "mlops:governance:GitlabProject"

PLATFORM_TAG_PATTERN = "v*"
"""Platform releases: ``vX.Y.Z``."""
MODEL_TAG_PATTERN = "*/v*"
"""Model releases: ``<model>/vX.Y.Z`` for any model name (``*`` does not match ``/``)."""
RELEASE_TAG_PATTERNS = (PLATFORM_TAG_PATTERN, MODEL_TAG_PATTERN)

GithubPlan = Literal["free", "pro", "team", "enterprise"]
GITHUB_PLANS = get_args(GithubPlan)
Visibility = Literal["public", "private", "internal"]
VISIBILITIES = get_args(Visibility)
GitlabTier = Literal["free", "premium", "ultimate"]
GITLAB_TIERS = get_args(GitlabTier)
MergeMethod = Literal["merge", "squash", "rebase"]

# What a plan may lack (accept_missing takes these names).
RULESETS = "rulesets"
CODE_OWNER_REVIEW = "code-owner-review"
ENVIRONMENTS = "environments"
ENVIRONMENT_PROTECTION = "environment-protection"
GITHUB_FEATURES = (RULESETS, CODE_OWNER_REVIEW, ENVIRONMENTS, ENVIRONMENT_PROTECTION)
APPROVAL_RULES = "approval-rules"
PROTECTED_ENVIRONMENTS = "protected-environments"
GITLAB_FEATURES = (CODE_OWNER_REVIEW, APPROVAL_RULES, PROTECTED_ENVIRONMENTS)

REF_PATTERN = re.compile(r"^[A-Za-z0-9._/*?+@-]{1,255}$")
REPOSITORY_NAME = re.compile(r"^[A-Za-z0-9._-]{1,100}$")
VARIABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")
TEAM_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,99}$")
USER_LOGIN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
ACTION_PATTERN = re.compile(r"^!?[A-Za-z0-9_.*-]+/[A-Za-z0-9_.*/-]+(?:@[A-Za-z0-9_.*/-]+)?$")
CHECK_NAME = re.compile(r"^\S(?:.{0,253}\S)?$")
CODEOWNER = re.compile(
    r"^(?:@[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})(?:/[A-Za-z0-9._-]+)?|[^@\s]+@[^@\s]+\.[^@\s]+)$"
)
CODEOWNERS_PATH = re.compile(r"^[^\s#]+$")
GITLAB_GROUP_PATH = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(?:/[A-Za-z0-9][A-Za-z0-9._-]*)*$")
MAX_ENVIRONMENT_REVIEWERS = 6
GITHUB_ACTIONS_APP_ID = 15368
"""The GitHub Actions app: check runs of workflow jobs carry this integration ID."""
MAX_WAIT_TIMER_MINUTES = 43200  # 30 days, GitHub's limit
MAX_APP_ID = 2**53
RESERVED_VARIABLE_PREFIXES = ("GITHUB_", "CI_", "GITLAB_")

# --- declarations shared by the Args below (see components/_schema.py) ---------------------------

RefPattern = Annotated[
    str, Matches(REF_PATTERN, "a name pattern of letters, digits, . _ / - and the wildcards * ** ?")
]
"""A branch or tag name pattern (GitHub's fnmatch rules, see :func:`ref_pattern_regex`)."""
REF_PATTERNS = Allowed("expected a list of branch or tag name patterns")
TAG_PATTERNS = Allowed("expected a non-empty list of tag name patterns")
TeamSlug = Annotated[str, Matches(TEAM_SLUG, "team slugs")]
UserLogin = Annotated[str, Matches(USER_LOGIN, "user logins")]
GroupPath = Annotated[str, Matches(GITLAB_GROUP_PATH, "group paths")]
EnvironmentName = Annotated[str, Matches(ENVIRONMENT_NAME, "an environment name")]
BranchName = Annotated[str, Matches(BRANCH_NAME, "a branch name")]
VariableName = Annotated[str, Matches(VARIABLE_NAME, "a variable name")]

# Any case: the pattern is also the JSON Schema's (ECMAScript, no inline flags), so each letter
# is spelt in both cases.
_RESERVED = "|".join(
    "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else re.escape(c) for c in prefix)
    for prefix in RESERVED_VARIABLE_PREFIXES
)
ActionsVariableName = Annotated[
    str,
    Matches(
        re.compile(f"^(?!{_RESERVED})" + VARIABLE_NAME.pattern.removeprefix("^")),
        "a variable name: letters, digits and _, not starting with "
        + ", ".join(RESERVED_VARIABLE_PREFIXES[:-1])
        + f" or {RESERVED_VARIABLE_PREFIXES[-1]} (reserved)",
    ),
]
AppId = Annotated[int, between(1, MAX_APP_ID)]


# --- pure helpers --------------------------------------------------------------------------------


def ref_pattern_regex(pattern: str) -> re.Pattern[str]:
    """GitHub's ref-pattern rules as a regex: ``**`` any characters, ``*`` any but ``/``,
    ``?`` one character but ``/``; everything else literal."""
    parts = re.split(r"(\*\*|\*|\?)", pattern)
    translated = {"**": ".*", "*": "[^/]*", "?": "[^/]"}
    return re.compile("^" + "".join(translated.get(p, re.escape(p)) for p in parts) + "$")


def ref_matches(pattern: str, name: str) -> bool:
    """Whether a branch/tag ``name`` matches a GitHub ref ``pattern``."""
    return bool(ref_pattern_regex(pattern).match(name))


def matched_by_any(patterns: Sequence[str], name: str) -> bool:
    return any(ref_matches(p, name) for p in patterns)


def sample_refs(pattern: str) -> list[str]:
    """Concrete names a (workflow filter) pattern matches, for coverage checks: each ``*`` or
    ``?`` replaced by a few representative strings (``**`` by ones with ``/``)."""
    samples = [""]
    for part in re.split(r"(\*\*|\*|\?)", pattern):
        options = {"**": ["0", "a/b"], "*": ["0", "12", "x-y"], "?": ["7"]}.get(part, [part])
        samples = [s + o for s in samples for o in options]
    return samples


def covers(patterns: Sequence[str], filter_pattern: str) -> bool:
    """Whether ``patterns`` match every sampled name of ``filter_pattern`` (e.g. the ruleset's
    ``v*`` covers the release workflow's ``v*.*.*``)."""
    return all(matched_by_any(patterns, s) for s in sample_refs(filter_pattern))


def missing_github_features(plan: str, visibility: str) -> tuple[str, ...]:
    """What a GitHub plan lacks for a repository of this visibility (GitHub's docs):

    - public repositories: nothing, on every plan;
    - private/internal on Free: rulesets, code-owner review, environments (and so their
      protection rules);
    - on Pro and Team: environment protection rules (required reviewers, wait timer,
      prevent self-review, admin bypass), which private repositories get only on Enterprise.
    """
    if visibility == "public" or plan == "enterprise":
        return ()
    if plan == "free":
        return (RULESETS, CODE_OWNER_REVIEW, ENVIRONMENTS, ENVIRONMENT_PROTECTION)
    return (ENVIRONMENT_PROTECTION,)


def missing_gitlab_features(tier: str) -> tuple[str, ...]:
    """What a GitLab tier lacks: Free has protected branches and tags but no required approval
    rules, code-owner approval or protected environments (Premium and Ultimate have them)."""
    return () if tier in ("premium", "ultimate") else GITLAB_FEATURES


def render_codeowners(rules: Mapping[str, Sequence[str]]) -> str:
    """A ``CODEOWNERS`` file: one ``<pattern> <owner> ...`` line per rule, in the given order
    (the last matching line wins, so put the catch-all ``*`` first)."""
    lines = [
        "# Managed by the governance project (mlops-platform): edit its config, not this file.",
        "",
    ]
    lines += [f"{pattern} {' '.join(owners)}" for pattern, owners in rules.items()]
    return "\n".join(lines) + "\n"


def _accepted_as_list(accepted: Any) -> dict[str, Any]:
    """``accept_missing`` may be a set (it always could): checked as the list it declares."""
    if isinstance(accepted, AbstractSet):
        return {"accept_missing": sorted(accepted, key=str)}
    return {}


def _plan_gap(field_name: str, feature: str, where: str, accepted: Sequence[str]) -> str | None:
    """A requested feature the plan lacks: a gap if accepted, else an error."""
    if feature in accepted:
        return f"{feature}: not available on {where}; left out (accept_missing)"
    raise ArgsError(
        field_name,
        where,
        f"{feature} is not available on {where}: upgrade the plan, make the repository public, "
        f"or list {feature!r} in accept_missing to go without it",
    )


# --- GitHub --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class DeploymentEnvironment:
    """A GitHub deployment environment and who may deploy to it from where."""

    name: EnvironmentName
    """Environment name, as the workflows' ``environment:`` says (``staging``, ``prod``)."""
    deploy_branches: Annotated[tuple[RefPattern, ...], REF_PATTERNS] = ()
    """Branch name patterns that may deploy (``main``)."""
    deploy_tags: Annotated[tuple[RefPattern, ...], REF_PATTERNS] = RELEASE_TAG_PATTERNS
    """Tag name patterns that may deploy: the release tags ``v*`` and ``*/v*``. With
    ``deploy_branches``: at least one pattern; an environment open to every ref is refused."""
    require_approval: bool = False
    """Jobs wait for one of the reviewers to approve (the manual approval gate)."""
    reviewer_teams: tuple[TeamSlug, ...] = ()
    """Team slugs (in the repository's organisation) who may approve; with ``reviewer_users``
    at most 6 in all."""
    reviewer_users: tuple[UserLogin, ...] = ()
    """User logins who may approve."""
    prevent_self_review: bool = True
    """Whoever started the run may not approve it."""
    wait_timer_minutes: Annotated[int, between(0, MAX_WAIT_TIMER_MINUTES)] = 0
    """Minutes a job waits before it may start (0-43200)."""
    variables: Annotated[
        Mapping[ActionsVariableName, pulumi.Input[str]],
        Allowed("expected a map of variable names to values"),
    ] = field(default_factory=dict)
    """Environment variables (``vars.NAME`` in jobs of this environment)."""

    def __post_init__(self) -> None:
        check_declared(self)
        if not self.deploy_branches and not self.deploy_tags:
            raise ArgsError(
                "deploy_tags",
                [],
                "name the branches or tags that may deploy (an environment open to every ref "
                "is refused)",
            )
        reviewers = len(self.reviewer_teams) + len(self.reviewer_users)
        if self.require_approval and not reviewers:
            raise ArgsError(
                "reviewer_teams", [], "require_approval needs at least one reviewer team or user"
            )
        if reviewers and not self.require_approval:
            raise ArgsError("require_approval", False, "reviewers are given: set it to true")
        if reviewers > MAX_ENVIRONMENT_REVIEWERS:
            raise ArgsError(
                "reviewer_teams",
                [*self.reviewer_teams, *self.reviewer_users],
                f"at most {MAX_ENVIRONMENT_REVIEWERS} reviewer teams and users in all",
            )

    @property
    def protected(self) -> bool:
        """Uses protection rules beyond branch/tag restrictions (plan-dependent)."""
        return self.require_approval or self.wait_timer_minutes > 0


@dataclass(frozen=True, kw_only=True)
class GithubRepositoryGovernanceArgs:
    """Arguments of :class:`GithubRepositoryGovernance`."""

    repository: Annotated[str, Matches(REPOSITORY_NAME, "a repository name")]
    """Repository name (its owner is the GitHub provider's ``owner``)."""
    plan: GithubPlan
    """The owner's GitHub plan: ``free``, ``pro``, ``team`` or ``enterprise``."""
    visibility: Visibility
    """``public``, ``private`` or ``internal`` (Enterprise only)."""
    required_checks: Annotated[
        tuple[Annotated[str, Matches(CHECK_NAME, "status check names")], ...],
        Field(min_length=1),
        Allowed("expected a non-empty list of status check names"),
    ]
    """Status checks (the workflows' job names) a pull request must pass; at least one."""
    release_teams: tuple[TeamSlug, ...]
    """Team slugs that may create, move and delete release tags and may merge pull requests
    that bypass the branch rules (never push directly). Empty only with ``release_app_ids``."""
    default_branch: BranchName = "main"
    """Branch the default-branch ruleset protects."""
    required_approvals: Annotated[int, between(1, 10)] = 1
    """Approving reviews a pull request needs (1-10)."""
    require_code_owner_review: bool = True
    """Changes to owned files need a code owner's approval."""
    dismiss_stale_reviews: bool = True
    """A new push dismisses earlier approvals."""
    require_last_push_approval: bool = True
    """The last push must be approved by someone other than its author."""
    require_conversation_resolution: bool = True
    """All review threads resolved before merging."""
    strict_status_checks: bool = True
    """The branch must be up to date with the default branch before merging."""
    required_checks_app_id: Annotated[int | None, between(1, MAX_APP_ID)] = GITHUB_ACTIONS_APP_ID
    """App whose check runs count (GitHub Actions, 15368), so that a commit status posted by
    anyone with write access cannot satisfy a required check; ``None``: any source."""
    require_linear_history: bool = False
    """No merge commits on the default branch (squash or rebase merges only)."""
    allowed_merge_methods: Annotated[
        tuple[MergeMethod, ...],
        Field(min_length=1),
        Allowed("expected a non-empty list of merge, squash, rebase"),
    ] = ("merge", "squash", "rebase")
    """Merge methods allowed for pull requests."""
    require_signed_commits: bool = False
    """Commits on the default branch must have verified signatures."""

    release_app_ids: tuple[AppId, ...] = ()
    """GitHub App IDs that bypass both rulesets (e.g. the governance App committing
    ``CODEOWNERS``). With ``release_teams``: at least one, or no one could tag a release."""
    release_tag_patterns: Annotated[tuple[RefPattern, ...], Field(min_length=1), TAG_PATTERNS] = (
        RELEASE_TAG_PATTERNS
    )
    """Tag patterns only the release team and apps may touch (``v*``, ``*/v*``)."""
    environments: tuple[DeploymentEnvironment, ...] = ()
    """Deployment environments."""
    variables: Annotated[
        Mapping[ActionsVariableName, pulumi.Input[str]],
        Allowed("expected a map of variable names to values"),
    ] = field(default_factory=dict)
    """Repository-level Actions variables (``vars.NAME``)."""
    codeowners: Annotated[
        Mapping[
            Annotated[str, Matches(CODEOWNERS_PATH, "a path pattern")],
            Annotated[
                Sequence[Annotated[str, Matches(CODEOWNER, "@org/team, @user or e-mail")]],
                Field(min_length=1),
                Allowed("expected a non-empty list of owners: @org/team, @user or e-mail"),
            ],
        ],
        Allowed("expected a map pattern -> owners"),
    ] = field(default_factory=dict)
    """``CODEOWNERS`` rules, pattern -> owners (``@org/team``, ``@user``, e-mail); written to
    ``.github/CODEOWNERS`` on the default branch. Empty: the file is not managed."""
    allowed_actions: tuple[Annotated[str, Matches(ACTION_PATTERN, "owner/repo@ref")], ...] = ()
    """Non-GitHub actions workflows may use (``owner/repo@*``, ``owner/*``; ``!`` blocks)."""
    allow_github_owned_actions: bool = True
    """Actions of the ``actions/`` and ``github/`` organisations are allowed."""
    require_sha_pinning: bool = True
    """Every action must be pinned to a full commit SHA."""
    default_workflow_permissions: Literal["read", "write"] = "read"
    """The ``GITHUB_TOKEN``'s default permissions: ``read`` (jobs widen what they need) or
    ``write``."""
    allow_actions_to_approve_pull_requests: bool = False
    """Whether workflows may approve pull requests (would let CI satisfy the review rule)."""
    accept_missing: Annotated[
        tuple[Annotated[str, OneOf(GITHUB_FEATURES)], ...],
        Allowed(f"expected a list of {', '.join(GITHUB_FEATURES)}"),
    ] = ()
    """Features the plan lacks that you accept going without: ``rulesets``,
    ``code-owner-review``, ``environments``, ``environment-protection``."""

    def __post_init__(self) -> None:
        check_declared(self, checked_as=_accepted_as_list(self.accept_missing))
        if self.visibility == "internal" and self.plan != "enterprise":
            raise ArgsError("visibility", "internal", "internal repositories need enterprise")
        if self.require_linear_history and "merge" in self.allowed_merge_methods:
            raise ArgsError(
                "allowed_merge_methods",
                list(self.allowed_merge_methods),
                "require_linear_history allows no merge commits: squash, rebase",
            )
        if not self.release_teams and not self.release_app_ids:
            raise ArgsError(
                "release_teams", [], "name the release team (or app) that may tag releases"
            )
        names = [env.name for env in self.environments]
        if len(set(names)) != len(names):
            raise ArgsError("environments", names, "environment names must be unique")
        self.gaps()  # a feature the plan lacks is an error unless accepted

    def gaps(self) -> tuple[str, ...]:
        """Requested settings the plan lacks and ``accept_missing`` lets go (else ArgsError)."""
        missing = missing_github_features(self.plan, self.visibility)
        where = f"GitHub {self.plan} ({self.visibility} repository)"
        wanted = [RULESETS]
        if self.require_code_owner_review:
            wanted.append(CODE_OWNER_REVIEW)
        if self.environments:
            wanted.append(ENVIRONMENTS)
        if any(env.protected for env in self.environments):
            wanted.append(ENVIRONMENT_PROTECTION)
        gaps = [
            _plan_gap("plan", feature, where, self.accept_missing)
            for feature in wanted
            if feature in missing
        ]
        if self.codeowners and RULESETS not in missing and not self.release_app_ids:
            raise ArgsError(
                "release_app_ids",
                [],
                "codeowners is committed to the protected default branch: list the governance "
                "GitHub App's ID so that it may",
            )
        return tuple(g for g in gaps if g)

    def supports(self, feature: str) -> bool:
        return feature not in missing_github_features(self.plan, self.visibility)


class GithubRepositoryGovernance(pulumi.ComponentResource):
    """A GitHub repository's merge policy, release tags, deployment environments, Actions
    variables and Actions policy.

    The default branch takes changes only through pull requests that passed the required
    checks and reviews; release tags can only be created, moved or deleted by the release team
    or app; each environment deploys only from the branches and tags it names, prod behind
    required reviewers. Team and user names are looked up by slug/login (the provider's token
    needs ``members: read`` on the organisation).

    Example::

        from mlops_platform.components import (
            DeploymentEnvironment,
            GithubRepositoryGovernance,
            GithubRepositoryGovernanceArgs,
        )

        governance = GithubRepositoryGovernance(
            "platform",
            GithubRepositoryGovernanceArgs(
                repository="mlops-platform",
                plan="enterprise",
                visibility="private",
                required_checks=("test", "plan"),
                release_teams=("release-managers",),
                environments=(
                    DeploymentEnvironment(name="staging", deploy_tags=("v*", "*/v*")),
                    DeploymentEnvironment(
                        name="prod",
                        deploy_tags=("v*", "*/v*"),
                        require_approval=True,
                        reviewer_teams=("release-managers",),
                    ),
                ),
            ),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Default branch",
            "pull requests only; 1 approval, code owners, stale reviews dismissed, last push "
            "approved, conversations resolved, strict status checks; no force push or deletion",
            "required_approvals, require_*, strict_status_checks",
        ),
        SecureDefault(
            "Bypass",
            "nobody but the release team (via pull request) and release apps",
            "release_teams, release_app_ids",
        ),
        SecureDefault(
            "Release tags",
            "``v*`` and ``*/v*``: created, moved, deleted only by the release team or apps",
            "release_tag_patterns",
        ),
        SecureDefault(
            "Environments",
            "deploy only from named branches/tags; admins cannot bypass; no self-review",
            "environments",
        ),
        SecureDefault(
            "GITHUB_TOKEN",
            "read-only; workflows cannot approve pull requests",
            "default_workflow_permissions, allow_actions_to_approve_pull_requests",
        ),
        SecureDefault(
            "Actions",
            "GitHub-owned plus an allow-list, pinned to full commit SHAs",
            "allowed_actions, require_sha_pinning",
        ),
        SecureDefault("Plan limits", "an error, unless accepted", "accept_missing"),
    )

    branch_ruleset_id: pulumi.Output[int] | None
    """ID of the default-branch ruleset; ``None`` when the plan has no rulesets."""
    tag_ruleset_id: pulumi.Output[int] | None
    """ID of the release-tag ruleset; ``None`` when the plan has no rulesets."""
    environment_names: list[str]
    """The environments created."""
    gaps: list[str]
    """Settings left out because the plan lacks them (accepted in ``accept_missing``)."""

    def __init__(
        self,
        name: str,
        args: GithubRepositoryGovernanceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(GITHUB_TYPE, name, None, opts)
        self._name = name
        self._args = args
        self._child = pulumi.ResourceOptions(parent=self)
        self.gaps = list(args.gaps())

        codeowners = self._codeowners()
        self._actions_policy()
        self.branch_ruleset_id = self.tag_ruleset_id = None
        if args.supports(RULESETS):
            self.branch_ruleset_id = self._branch_ruleset(codeowners)
            self.tag_ruleset_id = self._tag_ruleset()
        self.environment_names = []
        if args.supports(ENVIRONMENTS):
            for env in args.environments:
                self._environment(env)
                self.environment_names.append(env.name)
        for variable, value in sorted(args.variables.items()):
            github.ActionsVariable(
                f"{name}-var-{variable}",
                repository=args.repository,
                variable_name=variable,
                value=value,
                opts=self._child,
            )

        self.register_outputs(
            {
                "branchRulesetId": self.branch_ruleset_id,
                "tagRulesetId": self.tag_ruleset_id,
                "environmentNames": self.environment_names,
                "gaps": self.gaps,
            }
        )

    # -- lookups

    def _team_id(self, slug: str) -> pulumi.Output[int]:
        team = github.get_team_output(
            slug=slug, summary_only=True, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return team.id.apply(int)

    def _user_id(self, login: str) -> pulumi.Output[int]:
        user = github.get_user_output(username=login, opts=pulumi.InvokeOutputOptions(parent=self))
        return user.id.apply(int)

    def _bypass(self, team_mode: str) -> list[dict[str, Any]]:
        """Release teams (``team_mode``) and release apps (``always``) may bypass."""
        args = self._args
        actors: list[dict[str, Any]] = [
            {"actor_type": "Team", "actor_id": self._team_id(slug), "bypass_mode": team_mode}
            for slug in args.release_teams
        ]
        actors += [
            {"actor_type": "Integration", "actor_id": app, "bypass_mode": "always"}
            for app in args.release_app_ids
        ]
        return actors

    # -- children

    def _codeowners(self) -> github.RepositoryFile | None:
        args = self._args
        if not args.codeowners:
            return None
        return github.RepositoryFile(
            f"{self._name}-codeowners",
            repository=args.repository,
            branch=args.default_branch,
            file=".github/CODEOWNERS",
            content=render_codeowners(args.codeowners),
            commit_message="governance: update CODEOWNERS",
            overwrite_on_create=True,
            opts=self._child,
        )

    def _branch_ruleset(self, codeowners: github.RepositoryFile | None) -> pulumi.Output[int]:
        args = self._args
        rules: dict[str, Any] = {
            "deletion": True,
            "non_fast_forward": True,
            "pull_request": {
                "required_approving_review_count": args.required_approvals,
                "require_code_owner_review": args.require_code_owner_review
                and args.supports(CODE_OWNER_REVIEW),
                "dismiss_stale_reviews_on_push": args.dismiss_stale_reviews,
                "require_last_push_approval": args.require_last_push_approval,
                "required_review_thread_resolution": args.require_conversation_resolution,
                "allowed_merge_methods": list(args.allowed_merge_methods),
            },
            "required_status_checks": {
                "required_checks": [
                    {"context": check}
                    if args.required_checks_app_id is None
                    else {"context": check, "integration_id": args.required_checks_app_id}
                    for check in args.required_checks
                ],
                "strict_required_status_checks_policy": args.strict_status_checks,
            },
            "required_linear_history": args.require_linear_history,
            "required_signatures": args.require_signed_commits,
        }
        ruleset = github.RepositoryRuleset(
            f"{self._name}-default-branch",
            name=f"default branch ({args.default_branch})",
            repository=args.repository,
            target="branch",
            enforcement="active",
            conditions={
                "ref_name": {"includes": [f"refs/heads/{args.default_branch}"], "excludes": []}
            },
            bypass_actors=self._bypass("pull_request"),
            rules=rules,
            # CODEOWNERS lands before the branch is protected; later updates use the app bypass.
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[codeowners] if codeowners else None
            ),
        )
        return ruleset.ruleset_id

    def _tag_ruleset(self) -> pulumi.Output[int]:
        args = self._args
        ruleset = github.RepositoryRuleset(
            f"{self._name}-release-tags",
            name="release tags",
            repository=args.repository,
            target="tag",
            enforcement="active",
            conditions={
                "ref_name": {
                    "includes": [f"refs/tags/{p}" for p in args.release_tag_patterns],
                    "excludes": [],
                }
            },
            bypass_actors=self._bypass("always"),
            rules={"creation": True, "update": True, "deletion": True, "non_fast_forward": True},
            opts=self._child,
        )
        return ruleset.ruleset_id

    def _environment(self, env: DeploymentEnvironment) -> None:
        args, name = self._args, self._name
        protection: dict[str, Any] = {}
        if args.supports(ENVIRONMENT_PROTECTION):
            protection["can_admins_bypass"] = False
            protection["prevent_self_review"] = env.prevent_self_review
            protection["wait_timer"] = env.wait_timer_minutes
            if env.require_approval:
                protection["reviewers"] = [
                    {
                        "teams": [self._team_id(t) for t in env.reviewer_teams],
                        "users": [self._user_id(u) for u in env.reviewer_users],
                    }
                ]
        environment = github.RepositoryEnvironment(
            f"{name}-env-{env.name}",
            repository=args.repository,
            environment=env.name,
            deployment_branch_policy={"protected_branches": False, "custom_branch_policies": True},
            **protection,
            opts=self._child,
        )
        after = pulumi.ResourceOptions(parent=self, depends_on=[environment])
        for kind, patterns in (("branch", env.deploy_branches), ("tag", env.deploy_tags)):
            for pattern in patterns:
                github.RepositoryEnvironmentDeploymentPolicy(
                    f"{name}-env-{env.name}-{kind}:{pattern}",
                    repository=args.repository,
                    environment=environment.environment,
                    **{f"{kind}_pattern": pattern},
                    opts=after,
                )
        for variable, value in sorted(env.variables.items()):
            github.ActionsEnvironmentVariable(
                f"{name}-env-{env.name}-var-{variable}",
                repository=args.repository,
                environment=environment.environment,
                variable_name=variable,
                value=value,
                opts=after,
            )

    def _actions_policy(self) -> None:
        args, name = self._args, self._name
        github.ActionsRepositoryPermissions(
            f"{name}-actions",
            repository=args.repository,
            enabled=True,
            allowed_actions="selected",
            allowed_actions_config={
                "github_owned_allowed": args.allow_github_owned_actions,
                "verified_allowed": False,
                "patterns_alloweds": list(args.allowed_actions),
            },
            sha_pinning_required=args.require_sha_pinning,
            opts=self._child,
        )
        github.WorkflowRepositoryPermissions(
            f"{name}-workflow-token",
            repository=args.repository,
            default_workflow_permissions=args.default_workflow_permissions,
            can_approve_pull_request_reviews=args.allow_actions_to_approve_pull_requests,
            opts=self._child,
        )


# --- GitLab --------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ProtectedEnvironment:
    """A GitLab environment, who may deploy to it and who must approve."""

    name: EnvironmentName
    """Environment name, as the jobs' ``environment:`` says."""
    deployer_groups: tuple[GroupPath, ...] = ()
    """Group full paths whose members may deploy; empty: maintainers."""
    approver_groups: tuple[GroupPath, ...] = ()
    """Group full paths whose members approve deployments."""
    required_approvals: Annotated[int, between(0, 5)] = 0
    """Approvals a deployment needs (0: none; then no approver groups)."""

    def __post_init__(self) -> None:
        check_declared(self)
        if self.required_approvals and not self.approver_groups:
            raise ArgsError("approver_groups", [], "required_approvals needs approver groups")
        if self.approver_groups and not self.required_approvals:
            raise ArgsError("required_approvals", 0, "approver groups are given: at least 1")


@dataclass(frozen=True, kw_only=True)
class ProjectVariable:
    """A GitLab CI/CD variable."""

    key: VariableName
    """Variable name."""
    value: pulumi.Input[str]
    """Its value."""
    protected: bool = True
    """Only pipelines of protected branches and tags get it."""
    environment_scope: Annotated[str, Matches(REF_PATTERN, "a scope")] = "*"
    """Environments that get it (``*``: all; other scopes need Premium)."""

    def __post_init__(self) -> None:
        check_declared(self)


@dataclass(frozen=True, kw_only=True)
class GitlabProjectGovernanceArgs:
    """Arguments of :class:`GitlabProjectGovernance`."""

    project: Annotated[str, Matches(GITLAB_PROJECT_PATH, "group/project")]
    """``group/project`` path."""
    tier: GitlabTier
    """The instance's or group's tier: ``free``, ``premium`` or ``ultimate``."""
    default_branch: BranchName = "main"
    """Branch protected: developers merge, no one pushes or force-pushes."""
    required_approvals: Annotated[int, between(1, 10)] = 1
    """Approvals a merge request into the default branch needs (1-10; Premium)."""
    approver_groups: tuple[GroupPath, ...] = ()
    """Group full paths whose members count as approvers; empty: any eligible member."""
    require_code_owner_approval: bool = True
    """Changes to owned files need a code owner (Premium)."""
    reset_approvals_on_push: bool = True
    """A new push removes approvals (Premium)."""
    release_tag_patterns: Annotated[tuple[RefPattern, ...], Field(min_length=1), TAG_PATTERNS] = (
        "v*",
        "*/v*",
    )
    """Tags only maintainers may create."""
    environments: tuple[ProtectedEnvironment, ...] = ()
    """Protected environments (Premium)."""
    variables: tuple[ProjectVariable, ...] = ()
    """CI/CD variables."""
    accept_missing: Annotated[
        tuple[Annotated[str, OneOf(GITLAB_FEATURES)], ...],
        Allowed(f"expected a list of {', '.join(GITLAB_FEATURES)}"),
    ] = ()
    """Features the tier lacks that you accept going without: ``code-owner-review``,
    ``approval-rules``, ``protected-environments``."""

    def __post_init__(self) -> None:
        check_declared(self, checked_as=_accepted_as_list(self.accept_missing))
        names = [env.name for env in self.environments]
        if len(set(names)) != len(names):
            raise ArgsError("environments", names, "environment names must be unique")
        keys = [(v.key, v.environment_scope) for v in self.variables]
        if len(set(keys)) != len(keys):
            raise ArgsError("variables", [k for k, _ in keys], "one variable per key and scope")
        self.gaps()

    def gaps(self) -> tuple[str, ...]:
        missing = missing_gitlab_features(self.tier)
        where = f"GitLab {self.tier}"
        wanted = [APPROVAL_RULES]
        if self.require_code_owner_approval:
            wanted.append(CODE_OWNER_REVIEW)
        if self.environments:
            wanted.append(PROTECTED_ENVIRONMENTS)
        gaps = [
            _plan_gap("tier", feature, where, self.accept_missing)
            for feature in wanted
            if feature in missing
        ]
        return tuple(g for g in gaps if g)

    def supports(self, feature: str) -> bool:
        return feature not in missing_gitlab_features(self.tier)


class GitlabProjectGovernance(pulumi.ComponentResource):
    """A GitLab project's protected default branch and release tags, merge-request approval
    rules, protected environments with approvers, and CI/CD variables.

    Example::

        from mlops_platform.components import (
            GitlabProjectGovernance,
            GitlabProjectGovernanceArgs,
            ProtectedEnvironment,
        )

        governance = GitlabProjectGovernance(
            "platform",
            GitlabProjectGovernanceArgs(
                project="my-group/mlops-platform",
                tier="premium",
                environments=(
                    ProtectedEnvironment(
                        name="prod", approver_groups=("my-group/release",), required_approvals=1
                    ),
                ),
            ),
        )
    """

    SECURE_DEFAULTS: ClassVar[tuple[SecureDefault, ...]] = (
        SecureDefault(
            "Default branch",
            "developers merge, no one pushes or force-pushes; code owners approve",
            "require_code_owner_approval",
        ),
        SecureDefault(
            "Approvals",
            "1 approval; approvals reset on push; authors and committers cannot approve",
            "required_approvals, approver_groups, reset_approvals_on_push",
        ),
        SecureDefault("Release tags", "``v*``, ``*/v*`` created by maintainers only", "fixed"),
        SecureDefault(
            "Environments", "maintainers deploy; approvers as configured", "environments"
        ),
        SecureDefault("Variables", "protected (protected refs only)", "variables[].protected"),
        SecureDefault("Tier limits", "an error, unless accepted", "accept_missing"),
    )

    branch_protection_id: pulumi.Output[int]
    """ID of the default branch's protection."""
    gaps: list[str]
    """Settings left out because the tier lacks them (accepted in ``accept_missing``)."""

    def __init__(
        self,
        name: str,
        args: GitlabProjectGovernanceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(GITLAB_TYPE, name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.gaps = list(args.gaps())
        premium = args.supports(APPROVAL_RULES)

        branch = gitlab.BranchProtection(
            f"{name}-default-branch",
            project=args.project,
            branch=args.default_branch,
            push_access_level="no one",
            merge_access_level="developer",
            allow_force_push=False,
            **(
                {"code_owner_approval_required": args.require_code_owner_approval}
                if args.supports(CODE_OWNER_REVIEW)
                else {}
            ),
            opts=child,
        )
        self.branch_protection_id = branch.branch_protection_id
        for pattern in args.release_tag_patterns:
            gitlab.TagProtection(
                f"{name}-tag:{pattern}",
                project=args.project,
                tag=pattern,
                create_access_level="maintainer",
                opts=child,
            )
        if premium:
            gitlab.ProjectLevelMrApprovals(
                f"{name}-mr-approvals",
                project=args.project,
                reset_approvals_on_push=args.reset_approvals_on_push,
                merge_requests_author_approval=False,
                merge_requests_disable_committers_approval=True,
                disable_overriding_approvers_per_merge_request=True,
                opts=child,
            )
            # Named approvers: a regular rule on the protected branch; else GitLab's "any
            # eligible approver" rule with the required count.
            approvers: dict[str, Any] = (
                {
                    "rule_type": "regular",
                    "protected_branch_ids": [branch.branch_protection_id],
                    "group_ids": [self._group_id(g) for g in args.approver_groups],
                    "disable_importing_default_any_approver_rule_on_create": True,
                }
                if args.approver_groups
                else {"rule_type": "any_approver"}
            )
            gitlab.ProjectApprovalRule(
                f"{name}-approval",
                project=args.project,
                name=f"{args.default_branch} approvals",
                approvals_required=args.required_approvals,
                **approvers,
                opts=child,
            )
        if args.supports(PROTECTED_ENVIRONMENTS):
            for env in args.environments:
                self._environment(name, args.project, env)
        for variable in args.variables:
            gitlab.ProjectVariable(
                f"{name}-var-{variable.key}"
                + ("" if variable.environment_scope == "*" else f"-{variable.environment_scope}"),
                project=args.project,
                key=variable.key,
                value=variable.value,
                protected=variable.protected,
                environment_scope=variable.environment_scope,
                raw=True,
                opts=child,
            )
        self.register_outputs({"branchProtectionId": self.branch_protection_id, "gaps": self.gaps})

    def _group_id(self, path: str) -> pulumi.Output[int]:
        group = gitlab.get_group_output(
            full_path=path, opts=pulumi.InvokeOutputOptions(parent=self)
        )
        return group.group_id

    def _environment(self, name: str, project: str, env: ProtectedEnvironment) -> None:
        deployers: list[dict[str, Any]] = [
            {"group_id": self._group_id(g)} for g in env.deployer_groups
        ] or [{"access_level": "maintainer"}]
        approvals = [
            {"group_id": self._group_id(g), "required_approvals": env.required_approvals}
            for g in env.approver_groups
        ]
        gitlab.ProjectProtectedEnvironment(
            f"{name}-env-{env.name}",
            project=project,
            environment=env.name,
            deploy_access_levels_attributes=deployers,
            approval_rules=approvals or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
