"""Training: two-stage LIVR, Direct SFT and the paper's ablations on the Hugging Face Trainer.

    from livr.training import load_config, train
    metrics = train(load_config("configs/tiny/livr.yaml", {"output_dir": "runs/x"}))

`LivrTrainingConfig` (config.py) holds every knob with its help text; `train` (run.py) checks
everything, encodes the data once and runs each stage as one `LivrTrainer` (trainer.py) run.
"""

from livr.methods import METHODS
from livr.runs.config import LivrTrainingConfig, load_config
from livr.runs.folder import load_run
from livr.training.export import export_run
from livr.training.run import train

__all__ = ["METHODS", "LivrTrainingConfig", "export_run", "load_config", "load_run", "train"]
