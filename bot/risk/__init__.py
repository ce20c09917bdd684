"""Risk: in-use images that a lifecycle policy will expire or archive, and when (pure)."""

from bot.risk.assess import assess
from bot.risk.models import Risk, RiskWhen

__all__ = ["Risk", "RiskWhen", "assess"]
