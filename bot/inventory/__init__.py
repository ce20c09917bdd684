"""The in-use inventory: which images services, pods and functions need, matched by digest."""
