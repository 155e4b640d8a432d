"""Campaigns: the segment x product matrix, contact policy, list planner, holdouts, outcomes."""
