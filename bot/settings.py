"""Settings: the only reader of the environment and of the configuration file.

Values come from, in order of precedence: explicit arguments, environment variables
(``LIFEGUARD_<SECTION>__<FIELD>``, JSON for lists), the YAML file named by ``LIFEGUARD_CONFIG``, and
the defaults below. AWS itself is configured the standard way (``AWS_PROFILE``, ``AWS_REGION``,
the credential chain, ``AWS_ENDPOINT_URL`` and ``AWS_ENDPOINT_URL_<SERVICE>``); these settings only
add what the SDK has no variable for: extra accounts (assumed roles), several regions, limits.

Example configuration file::

    aws:
      regions: [eu-west-1, us-east-1]
      accounts:
        - {}                                   # the default credentials
        - role_arn: arn:aws:iam::222222222222:role/lifeguard-read
          regions: [eu-west-1]
    kubernetes:
      contexts: [prod-eks]
    inventory:
      static_references: /etc/lifeguard/references.yaml
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
    YamlConfigSettingsSource,
)

from bot.durations import format_duration, parse_duration
from bot.errors import ConfigError
from bot.lifecycle.timefmt import DAY
from bot.refs import is_valid_region

CONFIG_ENV = "LIFEGUARD_CONFIG"
_SECTION = ConfigDict(extra="forbid")


class AwsAccount(BaseModel):
    """One AWS account to scan: the default credentials, a profile, or a role to assume."""

    model_config = _SECTION

    name: str | None = None
    profile: str | None = None
    role_arn: str | None = Field(default=None, pattern=r"^arn:aws[a-z-]*:iam::\d{12}:role/.+$")
    external_id: str | None = None
    regions: list[str] | None = None

    @field_validator("regions")
    @classmethod
    def _regions_exist(cls, regions: list[str] | None) -> list[str] | None:
        return _check_regions(regions) if regions is not None else None


class AwsSettings(BaseModel):
    """Accounts, regions and limits for AWS calls."""

    model_config = _SECTION

    regions: list[str] = Field(default_factory=list)
    accounts: list[AwsAccount] = Field(default_factory=lambda: [AwsAccount()])
    max_concurrency: int = Field(default=8, ge=1, le=100)
    max_attempts: int = Field(default=5, ge=1, le=20)
    connect_timeout: float = Field(default=5.0, gt=0)
    read_timeout: float = Field(default=30.0, gt=0)

    @field_validator("regions")
    @classmethod
    def _regions_exist(cls, regions: list[str]) -> list[str]:
        return _check_regions(regions)

    def default_regions(self) -> list[str]:
        """The configured regions, else the SDK's region (``AWS_REGION``/``AWS_DEFAULT_REGION``)."""
        if self.regions:
            return self.regions
        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        return [region] if region else []


class KubernetesSettings(BaseModel):
    """Which clusters to inventory: kubeconfig contexts, or the cluster the bot runs in."""

    model_config = _SECTION

    enabled: bool = False
    in_cluster: bool = False
    kubeconfig: str | None = None
    contexts: list[str] = Field(default_factory=list)
    rollback_revisions: int = Field(default=3, ge=0, le=100)


class InventorySettings(BaseModel):
    """Which sources of in-use images to read."""

    model_config = _SECTION

    ecs: bool = True
    ecs_task_definition_revisions: int = Field(default=3, ge=0, le=100)
    lambda_functions: bool = Field(default=True, alias="lambda")
    lambda_versions: int = Field(default=3, ge=0, le=100)
    static_references: Path | None = None


class ScanSettings(BaseModel):
    """What a scan looks at, and how far ahead."""

    model_config = _SECTION

    repositories: list[str] = Field(default_factory=lambda: ["*"])
    horizon_days: float = Field(default=7.0, ge=0, le=365)
    push_margin: int = Field(default=2, ge=0, le=1000)


def _duration(value: Any) -> Any:
    if isinstance(value, str):
        return parse_duration(value, maximum=float("inf"))
    return value


def _state_dir() -> Path:
    """Where this replica keeps its local journal: $XDG_STATE_HOME, else a temporary directory
    (writable with a read-only root file system)."""
    base = os.environ.get("XDG_STATE_HOME")
    return Path(base) / "ecr-lifeguard" if base else Path(tempfile.gettempdir()) / "ecr-lifeguard"


# A duration: seconds as a number, or text such as "15m", "7d", "1d12h".
Duration = Annotated[float, BeforeValidator(_duration), Field(ge=0)]


class RouteRule(BaseModel):
    """Alerts for repositories matching ``repositories`` (a glob) go to ``channel``."""

    model_config = _SECTION

    repositories: str
    channel: str = Field(min_length=1)


class RoutingSettings(BaseModel):
    """Where alerts go when no consumer names its owner channel."""

    model_config = _SECTION

    rules: list[RouteRule] = Field(default_factory=list)
    default_channel: str | None = None


class PermissionRule(BaseModel):
    """Who may run mutating commands (protect, retag, restore, snooze...) on matching repositories.

    A rule applies to repositories whose name matches ``repositories`` (a glob) and, when given,
    that live in one of ``accounts`` (12-digit ids) and ``regions``. A user is allowed when
    listed, when in a listed user group (Slack ``S…`` ids), or when the command comes from a
    listed channel.
    """

    model_config = _SECTION

    repositories: str = "*"
    accounts: list[Annotated[str, Field(pattern=r"^\d{12}$")]] = Field(default_factory=list)
    regions: list[str] = Field(default_factory=list)
    users: list[str] = Field(default_factory=list)
    user_groups: list[str] = Field(default_factory=list)
    channels: list[str] = Field(default_factory=list)

    @field_validator("regions")
    @classmethod
    def _regions_exist(cls, regions: list[str]) -> list[str]:
        return _check_regions(regions)


class ProtectSettings(BaseModel):
    """How ``protect`` shields an image: a keep tag plus a top-priority guard rule."""

    model_config = _SECTION

    tag_prefix: str = Field(default="keep-", pattern=r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,100}$")
    default_duration: Duration = 7 * DAY
    min_duration: Duration = 3_600.0
    max_duration: Duration = 90 * DAY
    apply_policy_change: Literal["confirm", "automatic"] = "confirm"

    @model_validator(mode="after")
    def _durations_in_order(self) -> Self:
        if not self.min_duration <= self.default_duration <= self.max_duration:
            raise ValueError(
                "default_duration must lie between min_duration and max_duration "
                f"({format_duration(self.min_duration)} to {format_duration(self.max_duration)})"
            )
        return self


class AlertsSettings(BaseModel):
    """What alerts link to: ``runbook_url``, the page on-call opens when an in-use image is at
    risk (shown on every alert; none: no runbook link)."""

    model_config = _SECTION

    runbook_url: str | None = Field(default=None, pattern=r"^https?://\S+$")


class EventsSettings(BaseModel):
    """The EventBridge events the bot consumes from SQS (``events.queue_url``; none: scan only)."""

    model_config = _SECTION

    queue_url: str | None = Field(default=None, pattern=r"^https?://\S+$")
    wait_seconds: int = Field(default=20, ge=0, le=20)
    batch: int = Field(default=10, ge=1, le=10)
    concurrency: int = Field(default=4, ge=1, le=64)
    visibility: Duration = 60.0
    max_bytes: int = Field(default=262_144, ge=1_024, le=1_048_576)
    inventory_max_age: Duration = 300.0


class PreviewSettings(BaseModel):
    """AWS's own lifecycle policy previews, compared with the local evaluation."""

    model_config = _SECTION

    enabled: bool = True
    every: Duration = DAY
    per_cycle: int = Field(default=5, ge=0, le=100)
    poll_interval: Duration = 5.0
    timeout: Duration = 300.0


class BotSettings(BaseModel):
    """The running bot: scan cadence, audit channel, HTTP port."""

    model_config = _SECTION

    scan_interval: Duration = 15 * 60.0
    audit_channel: str | None = None
    http_port: int = Field(default=3000, ge=1, le=65_535)
    health_port: int = Field(default=8080, ge=1, le=65_535)
    journal_path: Path | None = None

    def journal_file(self) -> Path:
        """Where this replica journals records the store could not take (``journal_path``, else
        ``$XDG_STATE_HOME/ecr-lifeguard/journal.jsonl``, else under the temporary directory)."""
        return self.journal_path or _state_dir() / "journal.jsonl"

    snooze_options: list[Duration] = Field(
        default_factory=lambda: [3_600.0, 4 * 3_600.0], min_length=1, max_length=4
    )


class Settings(BaseSettings):
    """Everything ECR Lifeguard can be configured with.

    Example:
        >>> Settings(aws={"regions": ["eu-west-1"]}).aws.regions
        ['eu-west-1']
    """

    model_config = SettingsConfigDict(
        env_prefix="LIFEGUARD_", env_nested_delimiter="__", extra="forbid", populate_by_name=True
    )

    aws: AwsSettings = Field(default_factory=AwsSettings)
    kubernetes: KubernetesSettings = Field(default_factory=KubernetesSettings)
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    scan: ScanSettings = Field(default_factory=ScanSettings)
    routing: RoutingSettings = Field(default_factory=RoutingSettings)
    permissions: list[PermissionRule] = Field(default_factory=list)
    protect: ProtectSettings = Field(default_factory=ProtectSettings)
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    bot: BotSettings = Field(default_factory=BotSettings)
    events: EventsSettings = Field(default_factory=EventsSettings)
    preview: PreviewSettings = Field(default_factory=PreviewSettings)

    slack_bot_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_BOT_TOKEN", "slack_bot_token")
    )
    """The Slack app's bot token (`xoxb-…`, "OAuth & Permissions"); required by `run`."""
    slack_app_token: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_APP_TOKEN", "slack_app_token")
    )
    """The app-level token with `connections:write` (`xapp-…`): Socket Mode (`run`)."""
    slack_signing_secret: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("SLACK_SIGNING_SECRET", "slack_signing_secret")
    )
    """The signing secret ("Basic Information") that verifies Slack's requests: `run --http`."""
    slack_api_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_API_URL", "slack_api_url"),
        pattern=r"^https?://[^\s]+/$",
    )
    """Slack's Web API base URL, ending in `/` (default `https://slack.com/api/`): for a proxy."""
    redis_url: SecretStr | None = Field(
        default=None, validation_alias=AliasChoices("REDIS_URL", "redis_url")
    )
    """`redis://` or `rediss://` URL of the shared state; without it, one replica, in memory."""

    @field_validator("slack_bot_token")
    @classmethod
    def _bot_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xoxb-"):
            raise ValueError("must be a bot token (it starts with xoxb-)")
        return value

    @field_validator("slack_app_token")
    @classmethod
    def _app_token_shape(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("xapp-"):
            raise ValueError("must be an app-level token (it starts with xapp-)")
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Explicit values, then the environment, then the ``LIFEGUARD_CONFIG`` YAML file."""
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            sources.append(YamlConfigSettingsSource(settings_cls, yaml_file=config_file))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Build the settings, or raise :class:`ConfigError` with one line per bad setting.

    Example:
        >>> load_settings(aws={"regions": ["moon-1"]})
        Traceback (most recent call last):
        ...
        bot.errors.ConfigError: setting aws.regions: "moon-1" is not an AWS region name
    """
    config_file = os.environ.get(CONFIG_ENV)
    if config_file:
        try:
            _check_config_file(Path(config_file))
        except ConfigError as exc:
            raise ConfigError(f"{CONFIG_ENV}: {exc}") from None
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise ConfigError(describe_validation_error(exc)) from None
    except SettingsError as exc:
        raise ConfigError(describe_settings_error(exc)) from None
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise ConfigError(f"{config_file}: cannot read the settings: {exc}") from None


def _check_config_file(path: Path) -> None:
    """Refuse a settings file that is missing, unreadable, not YAML, or not a mapping."""
    if not path.is_file():
        raise ConfigError(f"{path} is not a readable file")
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the settings file ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the settings file is not UTF-8 text") from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"{path}: not valid YAML{line}: {problem}") from None
    if document is not None and not isinstance(document, dict):
        raise ConfigError(f"{path}: the settings file must be a mapping (section: values)")


def describe_settings_error(exc: SettingsError) -> str:
    """Name the environment variable whose JSON could not be read, and why.

    Example:
        >>> import json
        >>> error = SettingsError('error parsing value for field "permissions" from source '
        ...                       '"EnvSettingsSource"')
        >>> try:
        ...     json.loads("[{")
        ... except ValueError as cause:
        ...     error.__cause__ = cause
        >>> describe_settings_error(error)  # doctest: +ELLIPSIS
        'LIFEGUARD_PERMISSIONS (or a LIFEGUARD_PERMISSIONS__… variable) is not valid JSON: ...'
    """
    found = re.search(r'field "([^"]+)" from source "(\w+)"', str(exc))
    cause = f": {exc.__cause__}" if exc.__cause__ else ""
    if found is None:
        return f"the settings cannot be read{cause}"
    field, source = found.groups()
    if source != "EnvSettingsSource":
        return f"setting {field}: cannot be read from {source}{cause}"
    name = f"LIFEGUARD_{field.upper()}"
    return f"{name} (or a {name}__… variable) is not valid JSON{cause}"


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem: ``setting section.field: what is wrong``."""
    lines = []
    for error in exc.errors(include_url=False):
        path = ".".join(str(part) for part in error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"setting {path}: {message}")
    return "\n".join(lines)


def _check_regions(regions: list[str]) -> list[str]:
    for region in regions:
        if not is_valid_region(region):
            raise ValueError(f'"{region}" is not an AWS region name')
    return regions
