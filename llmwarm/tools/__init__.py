"""The ``llmwarm`` command and its subcommands: users of the library, never used by it.

Nothing is imported here: a subcommand loads its module (and extras) when it runs.
"""
