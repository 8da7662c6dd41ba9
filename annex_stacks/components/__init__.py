"""Reusable constructs. They take typed keyword props and read no files, env or AWS."""
