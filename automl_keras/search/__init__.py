"""The search layer: oracles propose, the trial runner trains, budgets hold."""
