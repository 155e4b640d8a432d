"""The dialer: arq jobs, the Twilio provider, pacing, webhooks and the agent board."""
