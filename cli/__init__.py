"""annex-cdk command-line interface (installed as the `annex_cdk` package)."""
