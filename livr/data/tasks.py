"""The task names used everywhere (CLI, configs, reports), what kind of answer each has, and which
ones carry a region of interest (ROI).

`TASK_NAMES` are the paper's ten tasks (each has a generator in `livr.data.synth`). `TASKS` also
knows the tasks that come only from outside sources: `visual_cot` (Visual-CoT, LVR's training
data, built with `livr data build --task visual_cot`) and the benchmarks `livr eval` reads
directly (`vstar_direct_attributes`, `vstar_relative_position`, `mmvp`).

`has_roi`: the task's records carry boxes or points from which `livr.data.roi.roi_boxes` derives
the ROI that LVR reconstructs; `TASKS_WITH_ROI` lists them, `livr.data.roi.require_roi` refuses
the others.
"""

from __future__ import annotations

from dataclasses import dataclass

from livr.errors import ConfigError


@dataclass(frozen=True)
class TaskInfo:
    name: str
    answer_kind: str  # "choice" (a letter), "count" (an integer as text) or "plan" (vsp)
    num_choices: int  # 0 for open-ended tasks
    num_images: int
    blink_config: str | None  # the BLINK hub config that tests this task, if any
    has_roi: bool = False  # records carry boxes / points for an ROI (livr.data.roi)
    origin: str = "paper"  # "paper" (synth + build), "lvr" (Visual-CoT) or "benchmark" (eval only)


TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in (
        TaskInfo("counting", "count", 0, 1, "Counting", has_roi=True),
        TaskInfo("jigsaw", "choice", 2, 3, "Jigsaw"),
        TaskInfo("localization", "choice", 2, 1, "Object_Localization", has_roi=True),
        TaskInfo("visual_correspondence", "choice", 4, 2, "Visual_Correspondence", has_roi=True),
        TaskInfo("art_style", "choice", 2, 3, "Art_Style"),
        TaskInfo("semantic_correspondence", "choice", 4, 2, "Semantic_Correspondence", has_roi=True),
        TaskInfo("functional_correspondence", "choice", 4, 2, "Functional_Correspondence", has_roi=True),
        TaskInfo("relative_reflectance", "choice", 3, 1, "Relative_Reflectance", has_roi=True),
        TaskInfo("visual_similarity", "choice", 2, 3, "Visual_Similarity"),
        TaskInfo("vsp", "plan", 0, 1, None),
        # free-text answers (scored by livr.evaluation.benchmarks.text_match)
        TaskInfo("visual_cot", "text", 0, 1, None, has_roi=True, origin="lvr"),
        TaskInfo("vstar_direct_attributes", "choice", 4, 1, None, origin="benchmark"),
        TaskInfo("vstar_relative_position", "choice", 2, 1, None, origin="benchmark"),
        TaskInfo("mmvp", "choice", 2, 1, None, origin="benchmark"),
    )
}

#: the paper's ten tasks (the ones with a synthetic generator)
TASK_NAMES: tuple[str, ...] = tuple(t.name for t in TASKS.values() if t.origin == "paper")
#: tasks whose records carry an ROI (see livr.data.roi)
TASKS_WITH_ROI: tuple[str, ...] = tuple(t.name for t in TASKS.values() if t.has_roi)


def get_task(name: str) -> TaskInfo:
    try:
        return TASKS[name]
    except KeyError:
        raise ConfigError(
            f"unknown task {name!r}; known tasks: {', '.join(TASK_NAMES)}"
        ) from None


def parse_task_list(text: str) -> list[str]:
    """Parse 'a,b,c' into validated task names (order kept, duplicates refused)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--tasks needs at least one task name")
    for n in names:
        get_task(n)
    if len(set(names)) != len(names):
        raise ConfigError(f"--tasks lists a task twice: {text!r}")
    return names
