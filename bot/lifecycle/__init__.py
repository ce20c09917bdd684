"""The ECR lifecycle engine: exact, local evaluation of lifecycle policies (stdlib + pydantic).

Typical use::

    from bot.lifecycle import evaluate, parse_policy_document, parse_describe_images

    policy = parse_policy_document(open("policy.json").read())
    images = parse_describe_images(open("images.json").read())
    result = evaluate(policy, images, now=time.time())
    for decision in result.acted():
        print(decision.image.digest, decision.rule.rule_priority)
"""

from bot.lifecycle.evaluate import Decision, Evaluation, Outcome, RuleSummary, evaluate
from bot.lifecycle.explain import Explainer, describe_rule, explain, rule_name
from bot.lifecycle.images import Image, ImageStatus
from bot.lifecycle.inputs import attach_children, parse_batch_get_image, parse_describe_images
from bot.lifecycle.parse import parse_policy, parse_policy_document, policy_from_data
from bot.lifecycle.policy import Action, LifecyclePolicy, Rule, Selection
from bot.lifecycle.preview import preview_document
from bot.lifecycle.problems import InputError, Problem

__all__ = [
    "Action",
    "Decision",
    "Evaluation",
    "Explainer",
    "Image",
    "ImageStatus",
    "InputError",
    "LifecyclePolicy",
    "Outcome",
    "Problem",
    "Rule",
    "RuleSummary",
    "Selection",
    "attach_children",
    "describe_rule",
    "evaluate",
    "explain",
    "parse_batch_get_image",
    "parse_describe_images",
    "parse_policy",
    "parse_policy_document",
    "policy_from_data",
    "preview_document",
    "rule_name",
]
