"""Plain-language reasons: why an image goes, stays, or is blocked, in words on-call can act on.

Everything here is derived from an :class:`~bot.lifecycle.evaluate.Evaluation`; nothing is stored.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from bot.lifecycle.evaluate import Decision, Evaluation, Outcome
from bot.lifecycle.firstpush import FirstPushDetector
from bot.lifecycle.images import ImageStatus
from bot.lifecycle.policy import Rule, Selection
from bot.lifecycle.timefmt import DAY, human, human_duration


def rule_name(rule: Rule) -> str:
    """How messages refer to a rule.

    Example:
        >>> from bot.lifecycle.policy import Rule
        >>> rule_name(Rule.model_validate({"rulePriority": 1, "description": "Keep 5",
        ...     "action": {"type": "expire"}, "selection": {"tagStatus": "any",
        ...     "countType": "imageCountMoreThan", "countNumber": 5}}))
        'rule 1 ("Keep 5")'
    """
    if rule.description:
        return f'rule {rule.rule_priority} ("{rule.description}")'
    return f"rule {rule.rule_priority}"


def describe_selection(selection: Selection) -> str:
    """The images a selection identifies, as a phrase.

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> describe_selection(Selection.model_validate({"tagStatus": "tagged",
        ...     "tagPatternList": ["alpha*", "beta*"], "countType": "imageCountMoreThan",
        ...     "countNumber": 1}))
        'images with a tag matching "alpha*" AND a tag matching "beta*"'
    """
    where = " in archive" if selection.effective_storage_class == "archive" else ""
    if selection.tag_status == "any":
        return f"all images{where}"
    if selection.tag_status == "untagged":
        return f"untagged images{where}"
    verb = "matching" if selection.uses_patterns else "starting with"
    clauses = " AND ".join(f'a tag {verb} "{entry}"' for entry in selection.entries)
    return f"images with {clauses}{where}"


def describe_criterion(rule: Rule) -> str:
    """What a rule does to the images it identifies, as a phrase.

    Example:
        >>> from bot.lifecycle.policy import Rule
        >>> describe_criterion(Rule.model_validate({"rulePriority": 2,
        ...     "action": {"type": "transition", "targetStorageClass": "archive"},
        ...     "selection": {"tagStatus": "any", "countType": "sinceImagePulled",
        ...                   "countUnit": "days", "countNumber": 90}}))
        'archive those not pulled for more than 90 days'
    """
    number = rule.selection.count_number
    verb = "archive" if rule.action.type == "transition" else "expire"
    return {
        "imageCountMoreThan": f"keep the newest {number}, {verb} the rest",
        "sinceImagePushed": f"{verb} those pushed more than {number} days ago",
        "sinceImagePulled": f"{verb} those not pulled for more than {number} days",
        "sinceImageTransitioned": f"{verb} those archived more than {number} days ago",
    }[rule.selection.count_type]


def describe_rule(rule: Rule) -> str:
    """A rule in one line: name, selection and criterion.

    Example:
        >>> from bot.lifecycle.policy import Rule
        >>> describe_rule(Rule.model_validate({"rulePriority": 3, "action": {"type": "expire"},
        ...     "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed",
        ...                   "countUnit": "days", "countNumber": 7}}))
        'rule 3: untagged images; expire those pushed more than 7 days ago'
    """
    return f"{rule_name(rule)}: {describe_selection(rule.selection)}; {describe_criterion(rule)}"


def explain(decision: Decision, evaluation: Evaluation) -> str:
    """Why this image goes or stays, in one or two sentences.

    To explain many decisions of one evaluation, build one :class:`Explainer` and reuse it.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "any", "countType": "sinceImagePushed",
        ...                 "countUnit": "days", "countNumber": 14}}]}''')
        >>> result = evaluate(policy, [Image("sha256:" + "a" * 64, ("v1",), 0.0)], now=20 * 86400.0)
        >>> explain(result.decisions[0], result)
        'Rule 1 expires it: pushed 1970-01-01 00:00 UTC, 20 days ago, more than 14 days.'
    """
    return Explainer(evaluation).explain(decision)


class Explainer:
    """Explains the decisions of one evaluation; shares the work several explanations need.

    Example:
        >>> from bot.lifecycle.parse import parse_policy
        >>> from bot.lifecycle.evaluate import evaluate
        >>> from bot.lifecycle.images import Image
        >>> policy = parse_policy('''{"rules": [{"rulePriority": 1, "action": {"type": "expire"},
        ...   "selection": {"tagStatus": "untagged", "countType": "imageCountMoreThan",
        ...                 "countNumber": 2}}]}''')
        >>> result = evaluate(policy, [Image("sha256:" + "a" * 64, (), 0.0)], now=0.0)
        >>> Explainer(result).explain(result.decisions[0])
        'Rule 1 keeps it: it is number 1 of 1 untagged image, newest first; the rule keeps 2, so 1 more matching push may arrive before it goes.'
    """  # noqa: E501

    def __init__(self, evaluation: Evaluation) -> None:
        self.evaluation = evaluation
        self.first_push = FirstPushDetector(evaluation)
        self._phrases: dict[int, _Phrases] = {}
        self._reasons: dict[int, Callable[[Decision], str]] = {}

    def phrases(self, rule: Rule, identified: int) -> _Phrases:
        """The words of a rule's explanations that do not depend on the image (made once)."""
        phrases = self._phrases.get(id(rule))
        if phrases is None or phrases.identified != identified:
            phrases = self._phrases[id(rule)] = _Phrases.of(rule, identified)
        return phrases

    def explain(self, decision: Decision) -> str:
        """The reason for one decision of this evaluation."""
        reason = self._reasons.get(id(decision.rule))
        if reason is None:
            reason = self._reasons[id(decision.rule)] = self._reason_for(decision.rule)
        return reason(decision)

    def _reason_for(self, rule: Rule | None) -> Callable[[Decision], str]:
        """How the decisions one rule governs are explained; made once per rule, used per image."""
        if rule is None:
            return lambda decision: _no_rule(decision, self.evaluation)
        if rule.selection.is_count_rule:
            return self._count_reason
        return _age_reasoner(rule, self.evaluation.now)

    def _count_reason(self, decision: Decision) -> str:
        assert decision.rule is not None
        phrases = self.phrases(decision.rule, decision.identified)
        if decision.outcome is _BLOCKED:
            return _blocked_reason(decision, phrases.name)
        text = _count_reason(decision, phrases)
        note = self.first_push.note(decision)
        return f"{text} {note}" if note else text

    def brief(self, decision: Decision) -> tuple[str, str | None]:
        """A short reason for a table that already names the rule, and the first-push note.

        Example:
            >>> from bot.lifecycle.parse import parse_policy
            >>> from bot.lifecycle.evaluate import evaluate
            >>> from bot.lifecycle.images import Image
            >>> policy = parse_policy('''{"rules": [{"rulePriority": 1,
            ...   "action": {"type": "expire"}, "selection": {"tagStatus": "any",
            ...   "countType": "sinceImagePushed", "countUnit": "days", "countNumber": 14}}]}''')
            >>> result = evaluate(policy, [Image("sha256:" + "a" * 64, (), 0.0)], now=20 * 86400.0)
            >>> Explainer(result).brief(result.decisions[0])
            ('pushed 20 days ago, more than 14 days', None)
        """
        rule = decision.rule
        if rule is None:
            return _no_rule(decision, self.evaluation), None
        if decision.outcome is _BLOCKED:
            held = ", ".join(d.removeprefix("sha256:")[:12] for d in decision.blocked_by)
            return f"index {held} references it and stays (ImageReferencedByManifestList)", None
        phrases = self.phrases(rule, decision.identified)
        if phrases.is_count_rule:
            return _count_brief(decision, phrases), self.first_push.note(decision)
        return _age_brief(decision, phrases, self.evaluation.now), None


_BLOCKED, _EXPIRE, _TRANSITION = Outcome.BLOCKED, Outcome.EXPIRE, Outcome.TRANSITION


@dataclass(frozen=True, slots=True)
class _Phrases:
    """The image-independent words of one rule's explanations."""

    rule: Rule
    identified: int
    name: str  # 'Rule 1 ("Keep 5")', capitalised
    verb: str  # expires | archives
    action: str  # expire | archive
    days: str  # '14 days': the age threshold of an age rule
    count_type: str
    count_number: int
    is_count_rule: bool
    population: str  # '9 images with a tag starting with "tag"': what a count rule ranks

    @classmethod
    def of(cls, rule: Rule, identified: int) -> _Phrases:
        selection = rule.selection
        transition = rule.action.type == "transition"
        return cls(
            rule=rule,
            identified=identified,
            name=_capital(rule_name(rule)),
            verb="archives" if transition else "expires",
            action="archive" if transition else "expire",
            days=_days(selection.count_number),
            count_type=selection.count_type,
            count_number=selection.count_number,
            is_count_rule=selection.is_count_rule,
            population=describe_population(selection, identified),
        )


def _count_brief(decision: Decision, phrases: _Phrases) -> str:
    position = f"number {(decision.rank or 0) + 1} of {decision.identified}"
    if decision.acted:
        return f"{position}, newest first; the rule keeps {phrases.count_number}"
    headroom = decision.headroom or 0
    if headroom == 0:
        return f"{position}; the next matching push removes it"
    pushes = "push" if headroom == 1 else "pushes"
    return f"{position}; {headroom} more matching {pushes} before it goes"


def _age_brief(decision: Decision, phrases: _Phrases, now: float) -> str:
    measured = decision.measured_from
    if measured is None:
        return "ECR reports no lastArchivedAt, so no age is known"
    basis = _age_basis(decision, phrases.count_type)
    elapsed = human_duration(now - measured)
    if decision.acted:
        return f"{basis} {elapsed} ago, more than {phrases.days}"
    return f"{basis} {elapsed} ago; passes {phrases.days} at {human(decision.eligible_at or now)}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def describe_population(selection: Selection, count: int) -> str:
    """A count of the images a selection identifies, as a phrase.

    Example:
        >>> from bot.lifecycle.policy import Selection
        >>> describe_population(Selection.model_validate({"tagStatus": "tagged",
        ...     "tagPrefixList": ["tag"], "countType": "imageCountMoreThan", "countNumber": 5}), 9)
        '9 images with a tag starting with "tag"'
    """
    noun = "image" if count == 1 else "images"
    if selection.tag_status == "untagged":
        noun = f"untagged {noun}"
    phrase = f"{count} {noun}"
    if selection.tag_status == "tagged":
        phrase = f"{count} {noun} with " + describe_selection(selection).split(" with ", 1)[1]
    elif selection.effective_storage_class == "archive":
        phrase += " in archive"
    return phrase


def _count_reason(decision: Decision, phrases: _Phrases) -> str:
    among = f"number {(decision.rank or 0) + 1} of {phrases.population}, newest first"
    keep = phrases.count_number
    if decision.acted:
        return f"{phrases.name} {phrases.verb} it: it is {among}, and the rule keeps {keep}."
    headroom = decision.headroom or 0
    if headroom == 0:
        margin = "the next matching push removes it"
    else:
        pushes = "push" if headroom == 1 else "pushes"
        margin = f"{headroom} more matching {pushes} may arrive before it goes"
    return f"{phrases.name} keeps it: it is {among}; the rule keeps {keep}, so {margin}."


_DAY_COUNTS: dict[int, str] = {}


def _days(count: int) -> str:
    text = _DAY_COUNTS.get(count)
    if text is None:
        text = _DAY_COUNTS[count] = f"{count} day" if count == 1 else f"{count} days"
    return text


def _blocked_reason(decision: Decision, name: str) -> str:
    held = ", ".join(d.removeprefix("sha256:")[:12] for d in decision.blocked_by)
    return (
        f"{name} selects it, but image index {held} references it and stays, so ECR keeps it and "
        "records ImageReferencedByManifestList."
    )


def _age_reasoner(rule: Rule, now: float) -> Callable[[Decision], str]:
    """Explains the decisions of one age rule; most images of a large plan go through here."""
    phrases = _Phrases.of(rule, 0)
    name, verb, days, action = phrases.name, phrases.verb, phrases.days, phrases.action
    count_type, threshold = phrases.count_type, phrases.count_number * DAY
    unknown = f"{name} selects it, but ECR reports no lastArchivedAt for it, so no age is known."

    def reason(decision: Decision) -> str:
        outcome = decision.outcome
        if outcome is _BLOCKED:
            return _blocked_reason(decision, name)
        measured = decision.measured_from
        if measured is None:
            return unknown
        since = (
            f"{_age_basis(decision, count_type)} {human(measured)}, "
            f"{human_duration(now - measured)} ago"
        )
        if outcome is _EXPIRE or outcome is _TRANSITION:
            return f"{name} {verb} it: {since}, more than {days}."
        eligible = (measured + threshold) or now
        return (
            f"{name} selects it; {since}, it passes {days} at {human(eligible)}, and ECR may "
            f"then {action} it within 24 hours."
        )

    return reason


def _age_basis(decision: Decision, count_type: str) -> str:
    image = decision.image
    if count_type == "sinceImagePushed":
        return "pushed" if image.last_activated_at is None else "restored"
    if count_type == "sinceImageTransitioned":
        return "archived"
    if count_type == "sinceImagePulled":
        restored = image.last_activated_at
        if restored is not None and decision.measured_from == restored:
            return "restored and not pulled since"
        return "last pulled" if image.last_pulled_at is not None else "never pulled; pushed"
    raise ValueError(f"not an age rule: {count_type}")


def _no_rule(decision: Decision, evaluation: Evaluation) -> str:
    image = decision.image
    classes = {r.selection.effective_storage_class for r in evaluation.policy.rules}
    if image.status is not ImageStatus.ACTIVE and "archive" not in classes:
        return "No rule selects it: it is archived, and no rule selects archived images."
    if image.tags:
        return "No rule selects it: its tags match no rule's selection."
    return "No rule selects it: it is untagged, and no rule selects untagged images."
