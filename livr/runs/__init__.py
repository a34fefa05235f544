"""Run configs and run folders, below both training (which writes them) and evaluation (which loads
them): `LivrTrainingConfig` (`config`), `saved_config` / `load_model` / `load_run` (`folder`)."""
