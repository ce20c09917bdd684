"""Static references: images that something outside ECS, Kubernetes and Lambda needs.

For Compose files, scheduled jobs on plain EC2, a CI cache, a disaster-recovery runbook: anything
the other sources cannot see. The file is read at every collection, so edits take effect at the
next scan. Format (YAML)::

    defaults:                      # optional: for short references such as app:v1
      registry: "123456789012"
      region: eu-west-1
    references:
      - image: 123456789012.dkr.ecr.eu-west-1.amazonaws.com/billing:2024.06
        name: nightly invoice run (cron on batch-01)
        channel: "#team-billing"   # optional: who to warn
      - image: app@sha256:9c4c...
        name: DR runbook pinned image
        use: rollback              # optional: static (default) or rollback
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bot.errors import ConfigError
from bot.inventory.models import Consumer, ImageUse, UseKind
from bot.lifecycle.problems import InputError
from bot.refs import ImageRef, is_valid_region, parse_image_ref

_STRICT = ConfigDict(extra="forbid")


class _Defaults(BaseModel):
    model_config = _STRICT

    registry: str | None = Field(default=None, pattern=r"^\d{12}$")
    region: str | None = None

    @field_validator("region")
    @classmethod
    def _region(cls, value: str | None) -> str | None:
        if value is not None and not is_valid_region(value):
            raise ValueError(f'"{value}" is not an AWS region name')
        return value


class _Reference(BaseModel):
    model_config = _STRICT

    image: str
    name: str = Field(min_length=1)
    channel: str | None = None
    use: Literal["static", "rollback"] = "static"


class _File(BaseModel):
    model_config = _STRICT

    defaults: _Defaults = Field(default_factory=_Defaults)
    references: list[_Reference] = Field(default_factory=list)


def parse_static_references(text: str, source: str = "references") -> list[ImageUse]:
    """Parse a static references document into image uses; :class:`InputError` names the entry.

    Example:
        >>> uses = parse_static_references('''
        ... defaults: {registry: "123456789012", region: eu-west-1}
        ... references:
        ...   - {image: "app:v1", name: nightly job, channel: "#data"}
        ... ''')
        >>> str(uses[0].ref), uses[0].consumer.channel, uses[0].kind.label
        ('123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:v1', '#data', 'static reference')
    """
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise InputError.single("", f"not valid YAML: {exc}") from None
    try:
        document = _File.model_validate(data if data is not None else {})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        path = ".".join(str(part) for part in first["loc"])
        raise InputError.single(path, first["msg"]) from None
    return [
        _use(entry, index, document.defaults, source)
        for index, entry in enumerate(document.references)
    ]


def _use(entry: _Reference, index: int, defaults: _Defaults, source: str) -> ImageUse:
    try:
        ref = parse_image_ref(entry.image)
    except InputError as exc:
        raise InputError.single(f"references[{index}].image", exc.problems[0].message) from None
    ref = ImageRef(
        ref.repository,
        ref.tag,
        ref.digest,
        ref.registry or defaults.registry,
        ref.region or defaults.region,
    )
    kind = UseKind.ROLLBACK if entry.use == "rollback" else UseKind.STATIC
    consumer = Consumer(
        "static", entry.name, account=ref.registry, region=ref.region, channel=entry.channel
    )
    return ImageUse(ref, kind, consumer, detail=source)


class StaticReferences:
    """The static references file as an inventory source.

    Example::

        source = StaticReferences(Path("/etc/lifeguard/references.yaml"))
        uses = await source.collect()
    """

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def name(self) -> str:
        """The source label: the file it reads."""
        return f"static {self.path}"

    async def collect(self) -> list[ImageUse]:
        """Read and parse the file; a missing or invalid file is a :class:`ConfigError`."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"inventory.static_references: cannot read {self.path}: {exc.strerror}"
            ) from None
        try:
            return parse_static_references(text, source=str(self.path))
        except InputError as exc:
            raise ConfigError(f"{self.path}: {exc}") from None
