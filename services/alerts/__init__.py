"""alerts: rules, evaluation, the alert lifecycle and the alert topic."""
