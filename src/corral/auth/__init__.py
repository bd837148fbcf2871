"""Who may use the hub: credentials and their checks."""
