"""`telecampaign demo` and the dialing run that works lists against the carrier simulator."""
