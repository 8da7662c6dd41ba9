from annex_cdk.commands.app import run

run()
