"""Evaluation: answer extraction and scoring (`answers`), batched greedy generation (`generate`)."""
