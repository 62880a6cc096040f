"""Pieces both samples share: settings parsing, JSON logs, the agent client, signal handling."""
