"""CLI command groups, one module per concern. Each module has `register(app)`; cli.py calls them all."""
