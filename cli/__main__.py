from annex_cdk.commands.app import main

main()
