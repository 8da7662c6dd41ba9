from annex_cdk.main import main

main()
