"""Placeholder until the commands of this area land."""

COMMANDS: list = []
