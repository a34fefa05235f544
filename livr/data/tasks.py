"""The ten task names used everywhere (CLI, configs, reports) and what kind of answer each has."""

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


TASKS: dict[str, TaskInfo] = {
    t.name: t
    for t in (
        TaskInfo("counting", "count", 0, 1, "Counting"),
        TaskInfo("jigsaw", "choice", 2, 3, "Jigsaw"),
        TaskInfo("localization", "choice", 2, 1, "Object_Localization"),
        TaskInfo("visual_correspondence", "choice", 4, 2, "Visual_Correspondence"),
        TaskInfo("art_style", "choice", 2, 3, "Art_Style"),
        TaskInfo("semantic_correspondence", "choice", 4, 2, "Semantic_Correspondence"),
        TaskInfo("functional_correspondence", "choice", 4, 2, "Functional_Correspondence"),
        TaskInfo("relative_reflectance", "choice", 3, 1, "Relative_Reflectance"),
        TaskInfo("visual_similarity", "choice", 2, 3, "Visual_Similarity"),
        TaskInfo("vsp", "plan", 0, 1, None),
    )
}

TASK_NAMES: tuple[str, ...] = tuple(TASKS)


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
