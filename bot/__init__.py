"""ECR Lifeguard: stop ECR lifecycle policies from deleting images that running services still need.

Packages, from the pure core outwards::

    bot.lifecycle   pure: policy model, validation, evaluator, explanations, lint
    bot.cli         the `ecr-lifeguard` command line (reads files, prints tables or JSON)

The pure core imports only the standard library and pydantic; input and output live at the edge.
"""

__version__ = "0.1.0"
