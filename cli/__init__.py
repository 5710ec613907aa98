"""The `nmt` command line: thin Typer commands that build a config and call toolkit."""
