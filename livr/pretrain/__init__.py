"""Pretraining data for livr-tiny: a deterministic synthetic instruction mix."""
