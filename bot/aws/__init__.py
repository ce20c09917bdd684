"""Adapters for AWS: ECR, ECS, Lambda, CloudTrail and STS behind small typed interfaces."""
