"""The ECR lifecycle policy model: the shape ``PutLifecyclePolicy`` accepts.

These pydantic models check the *shape* of a policy (types, enumerations, unknown keys). The rules
that relate one field to another, or one rule to another, live in :mod:`bot.lifecycle.validate`;
:func:`bot.lifecycle.parse.parse_policy` runs both and is the entry point to use.

Field names follow the AWS JSON (``rulePriority``, ``tagPrefixList``...) through aliases, so a model
dumps back to the exact JSON AWS expects with ``model_dump(by_alias=True, exclude_none=True)``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr

TagStatus = Literal["tagged", "untagged", "any"]
CountType = Literal[
    "imageCountMoreThan", "sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"
]
StorageClassName = Literal["standard", "archive"]
ActionType = Literal["expire", "transition"]

TIME_COUNT_TYPES: frozenset[str] = frozenset(
    {"sinceImagePushed", "sinceImagePulled", "sinceImageTransitioned"}
)

# Only the AWS (alias) names are accepted as input: a policy using Python field names would fail
# at PutLifecyclePolicy, so it must fail here too.
_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, validate_by_name=False)


class Selection(BaseModel):
    """Which images a rule looks at, and the count or age criterion it applies to them.

    Example:
        >>> s = Selection.model_validate(
        ...     {"tagStatus": "tagged", "tagPrefixList": ["prod"],
        ...      "countType": "imageCountMoreThan", "countNumber": 5})
        >>> (s.tag_status, s.entries, s.effective_storage_class)
        ('tagged', ('prod',), 'standard')
    """

    model_config = _MODEL_CONFIG

    tag_status: TagStatus = Field(alias="tagStatus")
    tag_prefix_list: tuple[StrictStr, ...] | None = Field(default=None, alias="tagPrefixList")
    tag_pattern_list: tuple[StrictStr, ...] | None = Field(default=None, alias="tagPatternList")
    storage_class: StorageClassName | None = Field(default=None, alias="storageClass")
    count_type: CountType = Field(alias="countType")
    count_unit: Literal["days"] | None = Field(default=None, alias="countUnit")
    count_number: StrictInt = Field(alias="countNumber")

    @property
    def effective_storage_class(self) -> StorageClassName:
        """The storage class the rule selects: ``standard`` unless the policy says otherwise."""
        return self.storage_class or "standard"

    @property
    def uses_patterns(self) -> bool:
        """True when the rule matches tags by ``tagPatternList`` (wildcards), not by prefixes."""
        return self.tag_pattern_list is not None

    @property
    def entries(self) -> tuple[str, ...]:
        """The prefix or pattern entries, all of which an image's tags must match (AND)."""
        return self.tag_pattern_list or self.tag_prefix_list or ()

    @property
    def is_count_rule(self) -> bool:
        """True for ``imageCountMoreThan`` rules, which rank images instead of ageing them."""
        return self.count_type == "imageCountMoreThan"


class Action(BaseModel):
    """What a rule does to the images it selects.

    Example:
        >>> Action.model_validate({"type": "transition", "targetStorageClass": "archive"}).type
        'transition'
    """

    model_config = _MODEL_CONFIG

    type: ActionType
    target_storage_class: Literal["archive"] | None = Field(
        default=None, alias="targetStorageClass"
    )


class Rule(BaseModel):
    """One lifecycle rule.

    Example:
        >>> r = Rule.model_validate({
        ...     "rulePriority": 1,
        ...     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                   "countUnit": "days", "countNumber": 14},
        ...     "action": {"type": "expire"}})
        >>> r.rule_priority, r.selection.count_number
        (1, 14)
    """

    model_config = _MODEL_CONFIG

    rule_priority: StrictInt = Field(alias="rulePriority")
    description: StrictStr | None = None
    selection: Selection
    action: Action


class LifecyclePolicy(BaseModel):
    """A whole lifecycle policy; ``rules`` are kept in the order the document gives them.

    Use :func:`bot.lifecycle.parse.parse_policy` to build one from text: it also applies every
    validation rule ``PutLifecyclePolicy`` applies.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1,
        ...   "selection": {"tagStatus": "any", "countType": "imageCountMoreThan",
        ...                 "countNumber": 3},
        ...   "action": {"type": "expire"}}]}''')
        >>> [r.rule_priority for r in policy.by_priority()]
        [1]
    """

    model_config = _MODEL_CONFIG

    rules: tuple[Rule, ...]

    def by_priority(self) -> tuple[Rule, ...]:
        """The rules in the order ECR applies them: ascending ``rulePriority`` (1 first)."""
        return tuple(sorted(self.rules, key=lambda rule: rule.rule_priority))

    def to_json(self) -> str:
        """Serialise to the compact JSON text ``PutLifecyclePolicy`` accepts (no nulls)."""
        return self.model_dump_json(by_alias=True, exclude_none=True)
