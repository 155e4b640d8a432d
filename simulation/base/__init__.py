"""The customer-base generator: a simulated telco's exports and their ground truth."""
