"""Analysis of finished runs and evaluations: results tables in the paper's layout (`report`)."""
