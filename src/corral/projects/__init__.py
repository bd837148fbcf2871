"""Projects: named groups of servers (and so agents), workflows and tasks, with metrics per project."""
