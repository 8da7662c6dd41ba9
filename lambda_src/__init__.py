"""Lambda handlers, plain Python; each file is inlined into its template as index.py."""
