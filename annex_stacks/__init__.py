"""CDK stacks, constructs, settings and names for the HTCondorAnnex-* setup."""
