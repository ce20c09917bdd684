"""why-missing: the verdict (pure) and the investigation that gathers its facts."""
