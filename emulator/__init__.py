"""annex-cdk's local AWS emulator: moto's server on loopback, taught what annex-cdk's templates
need. The product (`annex_cdk`) imports it only to start it (`annex-cdk emulator`, `rehearse`);
nothing outside this package imports moto for it.

Modules:
- `server`: the server process and `EmulatorProcess`, which starts one; `faults`: the faults
  tests switch on (expired keys, failing resource types, slow deploys).
- `teach`: `install()`, the one entry: checks moto (`moto_contract`), then applies every patch
  (`patches` records them, for `uninstall()`).
- The CloudFormation engine: `stack_operation` (the operation in progress), `stack_events`
  (events and failure reasons), `resource_lifecycle` (creating and deleting one resource),
  `template_dependencies`, `stack_update` (update order and rollback), `stack_states` (create,
  delete and change-set outcomes).
- The resource types it teaches (`resource_types` lists them): `key_pair`, `s3_bucket`,
  `bucket_access` (bucket-policy conditions), `security_groups` with `security_group_rules`,
  `iam`, `lambda_function`, `log_group`; with `resource_properties` and `own_resource` shared.
- StackSets as CloudFormation runs them: `stack_set_api` (the actions, checked as AWS checks
  them), `stack_set_engine` (operations in the background, instance status from each stack's
  outcome, automatic deployment), `stack_set_model` (the records), `stack_drift` (drift
  detection); `organization` (the organization they deploy to, OrganizationAccountAccessRole,
  AssumeRole's trust check).
"""
