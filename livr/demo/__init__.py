"""`livr demo`: a miniature reproduction of the paper's Table 1 and Sec. 4.4.1 in one command.

It generates the tasks, evaluates the base model zero-shot, trains Direct SFT and LIVR on the same
data with the same total epochs, evaluates both on the test splits, probes LIVR's latents, draws
latent-to-image attention maps and writes OUT/report.md, report.json and summary.txt. Each step is
skipped when its result is already there with the same settings, so an interrupted demo, run
again, continues where it stopped.

    config.py   DemoConfig, the default and full presets, YAML and flag loading, checks
    steps.py    a step, its stamp (settings + seconds), how done / todo / conflict is decided
    run.py      the plan, the checks before any work, the actions, progress lines
    report.py   report.md / report.json / summary.txt
"""

from livr.demo.config import DemoConfig, load_demo_config
from livr.demo.run import Demo, run_demo

__all__ = ["Demo", "DemoConfig", "load_demo_config", "run_demo"]
