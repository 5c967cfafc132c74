"""goals: cycles, teams, objectives, key results, check-ins, scoring; issues API keys."""
