"""Kubernetes adapters: the in-use inventory of EKS (or any) clusters through kubernetes_asyncio."""
