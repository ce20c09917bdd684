"""Plain-language reasons: why an image goes, stays, or is blocked, in words on-call can act on.

Everything here is derived from an :class:`~bot.lifecycle.evaluate.Evaluation`; nothing is stored.
"""

from __future__ import annotations

from bot.lifecycle.evaluate import Decision, Evaluation, Outcome
from bot.lifecycle.firstpush import FirstPushDetector
from bot.lifecycle.images import ImageStatus
from bot.lifecycle.policy import Rule, Selection
from bot.lifecycle.timefmt import human, human_duration


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

    def explain(self, decision: Decision) -> str:
        """The reason for one decision of this evaluation."""
        rule = decision.rule
        if rule is None:
            return _no_rule(decision, self.evaluation)
        if decision.outcome is Outcome.BLOCKED:
            held = ", ".join(d.removeprefix("sha256:")[:12] for d in decision.blocked_by)
            return (
                f"{_capital(rule_name(rule))} selects it, but image index {held} references it "
                "and stays, so ECR keeps it and records ImageReferencedByManifestList."
            )
        if rule.selection.is_count_rule:
            text = _count_reason(decision, rule)
            note = self.first_push.note(decision)
            return f"{text} {note}" if note else text
        return _age_reason(decision, rule, self.evaluation.now)

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
        if decision.outcome is Outcome.BLOCKED:
            held = ", ".join(d.removeprefix("sha256:")[:12] for d in decision.blocked_by)
            return f"index {held} references it and stays (ImageReferencedByManifestList)", None
        if rule.selection.is_count_rule:
            return _count_brief(decision, rule), self.first_push.note(decision)
        return _age_brief(decision, rule, self.evaluation.now), None


def _count_brief(decision: Decision, rule: Rule) -> str:
    position = f"number {(decision.rank or 0) + 1} of {decision.identified}"
    if decision.acted:
        return f"{position}, newest first; the rule keeps {rule.selection.count_number}"
    headroom = decision.headroom or 0
    if headroom == 0:
        return f"{position}; the next matching push removes it"
    pushes = "push" if headroom == 1 else "pushes"
    return f"{position}; {headroom} more matching {pushes} before it goes"


def _age_brief(decision: Decision, rule: Rule, now: float) -> str:
    if decision.measured_from is None:
        return "ECR reports no lastArchivedAt, so no age is known"
    basis = _age_basis(decision, rule)
    elapsed = human_duration(now - decision.measured_from)
    days = _days(rule.selection.count_number)
    if decision.acted:
        return f"{basis} {elapsed} ago, more than {days}"
    return f"{basis} {elapsed} ago; passes {days} at {human(decision.eligible_at or now)}"


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _verb(rule: Rule) -> str:
    return "archives" if rule.action.type == "transition" else "expires"


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


def _count_reason(decision: Decision, rule: Rule) -> str:
    rank = (decision.rank or 0) + 1
    keep = rule.selection.count_number
    among = (
        f"number {rank} of {describe_population(rule.selection, decision.identified)}, newest first"
    )
    name = _capital(rule_name(rule))
    if decision.acted:
        return f"{name} {_verb(rule)} it: it is {among}, and the rule keeps {keep}."
    headroom = decision.headroom or 0
    if headroom == 0:
        margin = "the next matching push removes it"
    else:
        pushes = "push" if headroom == 1 else "pushes"
        margin = f"{headroom} more matching {pushes} may arrive before it goes"
    return f"{name} keeps it: it is {among}; the rule keeps {keep}, so {margin}."


def _days(count: int) -> str:
    return f"{count} day" if count == 1 else f"{count} days"


def _age_reason(decision: Decision, rule: Rule, now: float) -> str:
    name = _capital(rule_name(rule))
    if decision.measured_from is None:
        return f"{name} selects it, but ECR reports no lastArchivedAt for it, so no age is known."
    elapsed = human_duration(now - decision.measured_from)
    since = f"{_age_basis(decision, rule)} {human(decision.measured_from)}, {elapsed} ago"
    days = _days(rule.selection.count_number)
    if decision.acted:
        return f"{name} {_verb(rule)} it: {since}, more than {days}."
    eligible = decision.eligible_at or now
    verb = "archive" if rule.action.type == "transition" else "expire"
    return (
        f"{name} selects it; {since}, it passes {days} at {human(eligible)}, "
        f"and ECR may then {verb} it within 24 hours."
    )


def _age_basis(decision: Decision, rule: Rule) -> str:
    image = decision.image
    count_type = rule.selection.count_type
    if count_type == "sinceImageTransitioned":
        return "archived"
    if count_type == "sinceImagePulled":
        restored = image.last_activated_at
        if restored is not None and decision.measured_from == restored:
            return "restored and not pulled since"
        return "last pulled" if image.last_pulled_at is not None else "never pulled; pushed"
    return "restored" if image.last_activated_at is not None else "pushed"


def _no_rule(decision: Decision, evaluation: Evaluation) -> str:
    image = decision.image
    classes = {r.selection.effective_storage_class for r in evaluation.policy.rules}
    if image.status is not ImageStatus.ACTIVE and "archive" not in classes:
        return "No rule selects it: it is archived, and no rule selects archived images."
    if image.tags:
        return "No rule selects it: its tags match no rule's selection."
    return "No rule selects it: it is untagged, and no rule selects untagged images."
