"""The `telecampaign` command line: the root app in ``runner.cli.main``, one module per group."""
