"""Visual Spatial Planning in Mirage's FrozenLake format, generated offline.

A map is an n x n grid (n = the level, 3..8) of frozen tiles "F" with a start "S", a goal "G" and
holes "H"; start and goal are random distinct cells and each other cell is a hole with probability
`hole_prob`. Maps are redrawn until a breadth-first search finds a path of at least
`min_plan_length` moves (default n - 1), so every map is solvable and none is trivial. The image
draws ice tiles, holes, the elf on the start and a gift on the goal with plain PIL shapes. The
answer is a shortest plan, "Action plan: R, D, ...", checked with `simulate_plan`, which the
evaluation also uses. Moves follow FrozenLake: L, D, R, U; moving off the board leaves the player
in place; stepping into a hole fails; reaching the goal succeeds (later moves are ignored, as the
FrozenLake episode ends there; `scoring="strict"`, Mirage's evaluation, instead requires the
final position to be the goal). Each map belongs to one split by a hash of its layout, and maps
do not repeat within a split.
"""

from __future__ import annotations

import functools
import json
import re
import zlib
from collections import deque

import numpy as np
from PIL import Image, ImageDraw

from livr.data.prompts import build_prompt
from livr.data.schema import SPLITS, make_record
from livr.data.synth._common import balanced

TASK = "vsp"
IMAGE_SIZE = 384
MOVES: dict[str, tuple[int, int]] = {"L": (0, -1), "D": (1, 0), "R": (0, 1), "U": (-1, 0)}
WORDS = {"LEFT": "L", "DOWN": "D", "RIGHT": "R", "UP": "U"}
_PLAN_RE = re.compile(r"action\s*plan\s*:", re.IGNORECASE)


# ---------------------------------------------------------------- plans


def _grid_rows(grid_metadata) -> list[str]:
    """Accept the metadata dict, its JSON text, or the grid itself (a list of strings)."""
    if isinstance(grid_metadata, str):
        grid_metadata = json.loads(grid_metadata)
    if isinstance(grid_metadata, dict):
        grid_metadata = grid_metadata["grid"]
    return [str(row) for row in grid_metadata]


def parse_plan(text: str) -> list[str] | None:
    """The actions after the last "Action plan:" in `text` (up to the end of that line), as
    letters L/D/R/U; words (left, down, ...) are accepted. None if there is no plan or a token
    is not an action."""
    matches = list(_PLAN_RE.finditer(text))
    if not matches:
        return None
    tail = text[matches[-1].end() :].split("\n", 1)[0]
    actions = []
    for token in re.split(r"[,\s;]+", tail):
        token = token.strip(" .()[]'\"*`").upper()
        if not token:
            continue
        token = WORDS.get(token, token)
        if token not in MOVES:
            return None
        actions.append(token)
    return actions


SCORINGS = ("replay", "strict")


def simulate_plan(grid_metadata, plan_text: str, scoring: str = "replay") -> bool:
    """True iff the plan in `plan_text` ("... Action plan: R, D, ...") solves the map. Moving off
    the board leaves the player in place (FrozenLake); stepping into a hole fails. `scoring`:

    - "replay" (the original VSP benchmark's, FrozenLake's episode): reaching G succeeds and ends
      the episode, so moves after it are ignored;
    - "strict" (Mirage's evaluation): every move is played, and the plan succeeds only if the
      final position is G (a plan that walks on past the goal fails).
    """
    if scoring not in SCORINGS:
        from livr.errors import ConfigError

        raise ConfigError(f"unknown VSP scoring {scoring!r}; use one of {', '.join(SCORINGS)}")
    rows = _grid_rows(grid_metadata)
    actions = parse_plan(plan_text)
    if not actions:
        return False
    n_rows, n_cols = len(rows), len(rows[0])
    r, c = next((i, row.index("S")) for i, row in enumerate(rows) if "S" in row)
    for a in actions:
        dr, dc = MOVES[a]
        r, c = min(max(r + dr, 0), n_rows - 1), min(max(c + dc, 0), n_cols - 1)
        if rows[r][c] == "H":
            return False
        if rows[r][c] == "G" and scoring == "replay":
            return True
    return rows[r][c] == "G"


def shortest_plan(rows: list[str]) -> list[str] | None:
    """A shortest action list from S to G avoiding holes (BFS, actions tried in L, D, R, U
    order so the result is deterministic), or None if G cannot be reached."""
    n_rows, n_cols = len(rows), len(rows[0])
    start = next((i, row.index("S")) for i, row in enumerate(rows) if "S" in row)
    prev: dict[tuple[int, int], tuple[tuple[int, int], str]] = {start: (start, "")}
    queue = deque([start])
    while queue:
        cell = queue.popleft()
        if rows[cell[0]][cell[1]] == "G":
            plan = []
            while cell != start:
                cell, a = prev[cell][0], prev[cell][1]
                plan.append(a)
            return plan[::-1]
        for a, (dr, dc) in MOVES.items():
            nxt = (cell[0] + dr, cell[1] + dc)
            if 0 <= nxt[0] < n_rows and 0 <= nxt[1] < n_cols and nxt not in prev:
                if rows[nxt[0]][nxt[1]] != "H":
                    prev[nxt] = (cell, a)
                    queue.append(nxt)
    return None


def format_plan(actions: list[str]) -> str:
    return "Action plan: " + ", ".join(actions)


def map_split(rows: list[str]) -> str:
    """The one split a map may appear in (80/10/10 by a hash of the map), so the same map is
    never in two splits even though each split is generated independently."""
    bucket = zlib.crc32("/".join(rows).encode()) % 10
    return "train" if bucket < 8 else ("validation" if bucket == 8 else "test")


def random_map(
    size: int, hole_prob: float, min_plan_length: int, split: str, seen: set, rng,
    max_plan_length: int | None = None,
) -> tuple[list[str], list[str]]:
    """(grid rows, shortest plan) for a new solvable size x size map belonging to `split`, whose
    shortest plan has between min_plan_length and max_plan_length (None: any) moves."""
    for _ in range(5000):
        cells = np.where(rng.random((size, size)) < hole_prob, "H", "F")
        start, goal = rng.choice(size * size, size=2, replace=False)
        cells.flat[start], cells.flat[goal] = "S", "G"
        rows = ["".join(r) for r in cells]
        key = "/".join(rows)
        if key in seen or map_split(rows) != split:
            continue
        plan = shortest_plan(rows)
        if plan is not None and len(plan) >= min_plan_length and (
                max_plan_length is None or len(plan) <= max_plan_length):
            seen.add(key)
            return rows, plan
    raise RuntimeError(
        f"no new solvable {size}x{size} map for the {split} split after 5000 tries (small maps "
        f"run out: ask for fewer examples, drop level {size}, or lower min_plan_length)"
    )


# ---------------------------------------------------------------- rendering


@functools.cache
def _sprites(cell: int) -> dict[str, Image.Image]:
    """Tile images for one cell size: ice, hole, start (ice with the elf), goal (ice + gift)."""
    ice = Image.new("RGB", (cell, cell), (206, 232, 248))
    d = ImageDraw.Draw(ice)
    shine, w = (235, 246, 253), max(2, cell // 20)
    d.line([(cell * 0.15, cell * 0.55), (cell * 0.55, cell * 0.15)], fill=shine, width=w)
    d.line([(cell * 0.45, cell * 0.85), (cell * 0.85, cell * 0.45)], fill=shine, width=w)
    d.rectangle([0, 0, cell - 1, cell - 1], outline=(120, 160, 195), width=max(1, cell // 40))

    hole = ice.copy()
    d = ImageDraw.Draw(hole)
    m = cell * 0.12
    d.ellipse([m, m * 1.6, cell - m, cell - m], fill=(60, 95, 140))
    d.ellipse([m * 1.5, m * 2.1, cell - m * 1.5, cell - m * 1.3], fill=(15, 25, 45))

    start = ice.copy()
    d = ImageDraw.Draw(start)
    u = cell / 16
    # The elf on a stool: body, head, hat, eyes.
    d.rectangle([4 * u, 13 * u, 12 * u, 14.5 * u], fill=(140, 90, 50))
    d.polygon([(8 * u, 6 * u), (4 * u, 13 * u), (12 * u, 13 * u)], fill=(40, 150, 60),
              outline=(20, 80, 30))
    d.ellipse([6 * u, 3.4 * u, 10 * u, 7.4 * u], fill=(250, 210, 170), outline=(120, 80, 50))
    d.polygon([(5.6 * u, 4.6 * u), (10.4 * u, 4.6 * u), (8 * u, 0.6 * u)], fill=(210, 30, 40))
    d.ellipse([7 * u, 5 * u, 7.8 * u, 5.8 * u], fill=(30, 30, 30))
    d.ellipse([8.2 * u, 5 * u, 9 * u, 5.8 * u], fill=(30, 30, 30))

    goal = ice.copy()
    d = ImageDraw.Draw(goal)
    # The gift: box, ribbon, bow.
    gold, w = (250, 210, 40), max(2, cell // 24)
    d.rectangle([3.5 * u, 6.5 * u, 12.5 * u, 13.5 * u], fill=(215, 40, 50), outline=(120, 10, 20))
    d.rectangle([7.2 * u, 6.5 * u, 8.8 * u, 13.5 * u], fill=gold)
    d.rectangle([3.5 * u, 9.2 * u, 12.5 * u, 10.8 * u], fill=gold)
    d.ellipse([5 * u, 3.8 * u, 8 * u, 6.8 * u], outline=gold, width=w)
    d.ellipse([8 * u, 3.8 * u, 11 * u, 6.8 * u], outline=gold, width=w)
    return {"F": ice, "H": hole, "S": start, "G": goal}


SHADES = (1.0, 0.93, 0.86, 0.79, 0.72)  # tile brightness factors of shaded boards


@functools.cache
def _shaded(cell: int, kind: str, shade: int) -> Image.Image:
    return _sprites(cell)[kind].point(lambda v: int(v * SHADES[shade]))


def render_map(rows: list[str], shades=None) -> Image.Image:
    """The map; `shades` (n x n indices into SHADES) darkens each tile by its own factor."""
    n = len(rows)
    cell = IMAGE_SIZE // n
    sprites = _sprites(cell)
    image = Image.new("RGB", (cell * n, cell * n))
    for i, row in enumerate(rows):
        for j, kind in enumerate(row):
            tile = sprites[kind] if shades is None else _shaded(cell, kind, int(shades[i][j]))
            image.paste(tile, (j * cell, i * cell))
    return image


def helper_step(plan_length: int) -> int:
    """How many moves of the plan the helper image shows done: the middle of the plan, rounded
    up (so a one-move plan shows the player on the goal)."""
    return (plan_length + 1) // 2


def later_map(rows: list[str], plan: list[str], step: int) -> list[str]:
    """The map after the first `step` moves of `plan`: the player ("S") moved there, its start
    cell now ice. A player that reached the goal replaces it (the gift is collected)."""
    n_rows, n_cols = len(rows), len(rows[0])
    r, c = next((i, row.index("S")) for i, row in enumerate(rows) if "S" in row)
    for a in plan[:step]:
        dr, dc = MOVES[a]
        r, c = min(max(r + dr, 0), n_rows - 1), min(max(c + dc, 0), n_cols - 1)
    cells = [list(row.replace("S", "F")) for row in rows]
    cells[r][c] = "S"
    return ["".join(row) for row in cells]


# ---------------------------------------------------------------- generator


# Difficulty levels (see livr.data.synth): the paper's 3x3-8x8 maps, then small maps only, fewer
# holes and shorter plans (the question and the "Action plan: ..." answer format stay the same),
# with shaded tiles so that the many similar small maps do not near-duplicate across splits.
LEVELS: dict[str, dict] = {
    "paper": {},
    "medium": {"levels": (3,), "hole_prob": 0.1, "min_plan_length": 1, "max_plan_length": 3, "shade": True},
    "easy": {"levels": (4,), "hole_prob": 0.15, "min_plan_length": 1, "max_plan_length": 1, "shade": True},
}


def generate(
    split: str,
    n: int,
    rng: np.random.Generator,
    *,
    levels: tuple[int, ...] = (3, 4, 5, 6, 7, 8),
    hole_prob: float = 0.2,
    min_plan_length: int | None = None,
    max_plan_length: int | None = None,
    shade: bool = False,
) -> list[dict]:
    """`n` vsp records, grid sizes exactly balanced over `levels`. The helper image (Mirage's
    supervision) is the same board with the player `helper_step` moves into the shortest plan.

    hole_prob: chance that a cell other than start and goal is a hole (FrozenLake's random maps
    use 0.2); min_plan_length: the fewest moves a map may need (default: size - 1);
    max_plan_length: the most moves its shortest plan may take (default: no limit); shade: each
    tile darkened by its own random factor (0.72-1), so that maps one cell apart, inevitable among
    many small maps, are not near-duplicate images across splits (the leakage guard of `livr
    train`).
    """
    levels = tuple(int(v) for v in levels)
    if not levels or any(not 2 <= v <= 12 for v in levels) or not 0 <= hole_prob < 0.6:
        from livr.errors import ConfigError

        raise ConfigError(
            f"vsp needs levels between 2 and 12 and 0 <= hole_prob < 0.6, got levels={levels}, "
            f"hole_prob={hole_prob}"
        )
    if split not in SPLITS:
        from livr.errors import ConfigError

        raise ConfigError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    records, seen = [], set()
    for i, size in enumerate(balanced(list(levels), n, rng)):
        min_len = size - 1 if min_plan_length is None else min_plan_length
        rows, plan = random_map(size, hole_prob, min_len, split, seen, rng, max_plan_length)
        answer = format_plan(plan)
        metadata = {"grid": rows, "size": size, "plan_length": len(plan)}
        if not simulate_plan(metadata, answer):
            raise AssertionError(f"generated plan fails its own map: {rows} {answer}")
        question, choices, prompt = build_prompt(TASK, size=str(size))
        shades = rng.integers(len(SHADES), size=(size, size)) if shade else None
        # Mirage's helper image: the same board a later step into the plan
        helper = render_map(later_map(rows, plan, helper_step(len(plan))), shades)
        records.append(
            make_record(
                id=f"{TASK}-{split}-{i:06d}",
                task=TASK,
                images=[render_map(rows, shades)],
                question=question,
                choices=choices,
                answer=answer,
                prompt=prompt,
                source=f"synthetic:{TASK}",
                metadata=metadata,
                helper_image=helper,
            )
        )
    return records
