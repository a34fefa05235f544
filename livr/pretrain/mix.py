"""The synthetic instruction mix that pretrains livr-tiny from random init (issue 6).

`generate_mix(n, seed=, level=, split=)` returns n records of short visual questions about
procedurally drawn pictures (see `livr.pretrain.scenes` for the rendering):

| family        | from level | images | example prompt -> answer |
|---------------|-----------:|-------:|--------------------------|
| colour        | 0 | 1 | "What colour is the star?" -> "green" |
| shape         | 0 | 1 | "What shape is the red object?" -> "triangle" |
| position      | 0 | 1 | "Where is the blue square?" -> "top left"; "...left or the right?" -> "left" |
| choice        | 0 | 1-2 | any other family's question with 2-4 lettered options -> "B" |
| count         | 1 | 1 | "Count the red shapes." -> "3" |
| exists        | 1 | 1 | "Is there a green circle in the picture?" -> "no" |
| size          | 1 | 1 | "Which is bigger, the red circle or the blue star?" -> "blue star" |
| relation      | 1 | 1 | "Is the red circle above or below the blue star?" -> "below" |
| brightness    | 1 | 1 | "Which half of the picture is brighter, left or right?" -> "left" |
| describe      | 1 | 1 | "Describe the picture." -> "a small red circle at the top left" |
| marker        | 2 | 1 | "What colour is the shape under the cross?" -> "purple" (+, x or arrow) |
| pair_same     | 2 | 2 | "Do the two pictures show the same shape?" -> "yes" |
| pair_which    | 2 | 2 | "Which picture has the green triangle, the first or the second?" -> "second" |
| pair_brighter | 2 | 2 | "Which picture is brighter, the first or the second?" -> "first" |
| grid_step     | 3 only | 1 | "On the grid, which way is it from the red circle to the blue star: left, right, up or down?" -> "up" |

Curriculum (`LEVELS`): level 0 is one big object on a plain muted background, 4 colours and 3
shapes; level 1 has 1-4 objects, 8 colours, 5 shapes and plain / gradient / textured
backgrounds; level 2 has 1-6 objects, 10 colours, 6 shapes, smaller objects and softened crops
of livr's *train* photos on 40% of the pictures (for both splits; the validation and test photos
belong to the evaluation tasks). Level 3 is a skill level, not a harder scene: it holds only the
families that start there (`SKILL_LEVEL`; today grid_step: two shapes in neighbouring cells of a
tiled board, one cell per image token at 112 px, and the direction of the step between them, the
skill a one-move plan needs), for a continuation of a pretrained base (`PretrainConfig.init_from`)
with the earlier levels replayed. Its phrasings (`SKILL_TEMPLATES`) are kept out of
`mix_vocabulary_text`, so the tokenizer of the shipped base is unchanged (byte-level BPE encodes
them all the same). A level draws its families in equal shares (block-balanced:
every run of len(families) records holds each family once), so level 0 is 25% each of colour,
shape, position and choice, level 1 is 10% each of ten families and level 2 1/14 each.

Answers are balanced within each family the same way: the answer (colour, count, yes/no, side,
first/second, lettered slot per number of options ...) is drawn first from a shuffled block and
the picture is built to match it. Questions and the option layouts ("Options: A. red  B. blue
...", "A. ... / B. ...", "Choose from A) ..., B) ...", "[A] ... [B] ...") are disjoint from the
ten evaluation tasks' prompts in `livr.data.prompts`: no "(A)" lines, no "Answer with the
option's letter ..." sentence, no "How many"; pictures use no red REF / A-D circles and no boxes.

Records are {"id", "task": "pretrain/<family>", "images", "prompt", "answer", "metadata"}.
`split` ("train" or "heldout") and `level` and `seed` seed one numpy PCG64 stream through
SHA-256 (never Python's hash()), so the same arguments give identical pixels and text on any
machine with the same numpy and Pillow, and generate_mix(n) is a prefix of generate_mix(m), n < m.

`generate_family(family, n, ...)` gives one family alone (its own stream), for per-family
evaluation. `mix_vocabulary_text()` lists texts covering every word the mix can emit.

Speed, measured 2026-11-21 on this project's shared 2-core Intel Xeon box (load average 2.5),
one process pinned to one core, 2,000 records per level: at 112x112 level 0 2,400/s, level 1
1,300/s, level 2 930/s; at 56x56 3,500 / 1,600 / 1,400/s. The first level-2 call in a process
also loads the train photos once (about 1.5 s); importing the module takes about 1 s.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from PIL import Image, ImageDraw

from livr.errors import ConfigError
from livr.pretrain import scenes as sc
from livr.pretrain.scenes import LEVEL_SPECS, NAMED_COLOURS, PLURALS, QUADRANTS, SHAPES, Obj

LEVELS = (0, 1, 2, 3)
SKILL_LEVEL = 3  # the level of the skill families alone (see the module docstring)
SPLITS = ("train", "heldout")
MIN_IMAGE_SIZE = 48
LETTERS = "ABCD"


@dataclass(frozen=True)
class FamilyInfo:
    """A question family: the lowest level it appears at, its image count and its answers."""

    min_level: int
    images: int  # 0 means "as its base question" (choice)
    answers: str


FAMILIES: dict[str, FamilyInfo] = {
    "colour": FamilyInfo(0, 1, "a colour name"),
    "shape": FamilyInfo(0, 1, "a shape name"),
    "position": FamilyInfo(0, 1, "top left / ... / left / right / top / bottom"),
    "choice": FamilyInfo(0, 0, "a letter A-D"),
    "count": FamilyInfo(1, 1, "a number"),
    "exists": FamilyInfo(1, 1, "yes / no"),
    "size": FamilyInfo(1, 1, "'<colour> <shape>' or yes / no"),
    "relation": FamilyInfo(1, 1, "left / right / above / below"),
    "brightness": FamilyInfo(1, 1, "left / right / top / bottom or yes / no"),
    "describe": FamilyInfo(1, 1, "'a <big|small> <colour> <shape> at the <corner>'"),
    "marker": FamilyInfo(2, 1, "a colour or shape name"),
    "pair_same": FamilyInfo(2, 2, "yes / no"),
    "pair_which": FamilyInfo(2, 2, "first / second"),
    "pair_brighter": FamilyInfo(2, 2, "first / second"),
    "grid_step": FamilyInfo(SKILL_LEVEL, 1, "left / right / up / down"),
}

# Families whose questions the choice family wraps in lettered options.
CHOICE_BASES = ("colour", "shape", "position", "count", "exists", "size", "relation", "brightness",
                "describe", "marker", "pair_same", "pair_which", "pair_brighter")


# ----------------------------------------------------------------------------------------------
# Phrasings. Placeholders: {shape} {shapes} {colour} {ref} {desc} {adesc} {a} {b} {side} {other}.

TEMPLATES: dict[str, tuple[str, ...]] = {
    "colour.single": (
        "What colour is the shape?",
        "Which colour is the object in the picture?",
        "Name the colour of the shape.",
        "What is the colour of the object?",
        "Tell me the colour of the shape.",
    ),
    "colour.ref": (
        "What colour is the {shape}?",
        "Name the colour of the {shape}.",
        "What is the colour of the {shape} in the image?",
        "The {shape} has which colour?",
        "Which colour is the {shape}?",
    ),
    "shape.single": (
        "What shape is this?",
        "What shape is in the picture?",
        "Name the shape.",
        "Which shape do you see?",
        "What kind of shape is drawn here?",
    ),
    "shape.ref": (
        "What shape is the {colour} object?",
        "Name the shape of the {colour} object.",
        "Which shape is {colour}?",
        "The {colour} object is which shape?",
        "What is the shape of the {colour} thing?",
    ),
    "position.quadrant": (
        "Where is the {ref}?",
        "In which corner of the picture is the {ref}?",
        "Which part of the image holds the {ref}?",
        "Where in the picture is the {ref}?",
    ),
    "position.lr": (
        "Is the {ref} on the left or the right?",
        "Is the {ref} in the left half or the right half?",
        "On which side is the {ref}, left or right?",
    ),
    "position.tb": (
        "Is the {ref} at the top or the bottom?",
        "Is the {ref} in the top half or the bottom half?",
        "Is the {ref} near the top or near the bottom?",
    ),
    "count.all": (
        "Count the shapes.",
        "Count the objects in the picture.",
        "What is the number of shapes in the image?",
        "Give the number of shapes you see.",
    ),
    "count.colour": (
        "Count the {colour} shapes.",
        "What is the number of {colour} objects?",
        "Give the number of {colour} shapes in the picture.",
    ),
    "count.shape": (
        "Count the {shapes}.",
        "What is the number of {shapes} in the image?",
        "Give the number of {shapes} you see.",
    ),
    "exists": (
        "Is there {adesc} in the picture?",
        "Does the image contain {adesc}?",
        "Can you see {adesc}?",
        "Is any {desc} visible?",
    ),
    "size.bigger": (
        "Which is bigger, the {a} or the {b}?",
        "Which shape is larger: the {a} or the {b}?",
        "Of the {a} and the {b}, which one is bigger?",
    ),
    "size.smaller": (
        "Which is smaller, the {a} or the {b}?",
        "Which shape is smaller: the {a} or the {b}?",
        "Of the {a} and the {b}, which one is smaller?",
    ),
    "size.yn_bigger": (
        "Is the {a} bigger than the {b}?",
        "Is the {a} larger than the {b}?",
    ),
    "size.yn_smaller": (
        "Is the {a} smaller than the {b}?",
        "Is the {a} tinier than the {b}?",
    ),
    "relation.lr": (
        "Is the {a} to the left or to the right of the {b}?",
        "Is the {a} left or right of the {b}?",
        "Compared to the {b}, is the {a} on the left or on the right?",
    ),
    "relation.ab": (
        "Is the {a} above or below the {b}?",
        "Compared to the {b}, is the {a} above or below?",
        "Is the {a} placed above the {b} or below it?",
    ),
    "brightness.lr_brighter": (
        "Which half of the picture is brighter, left or right?",
        "Is the left half or the right half brighter?",
        "Which side is lighter, left or right?",
    ),
    "brightness.lr_darker": (
        "Which half of the picture is darker, left or right?",
        "Is the left half or the right half darker?",
        "Which side is darker, left or right?",
    ),
    "brightness.tb_brighter": (
        "Which half of the picture is brighter, top or bottom?",
        "Is the top half or the bottom half brighter?",
        "Which part is lighter, top or bottom?",
    ),
    "brightness.tb_darker": (
        "Which half of the picture is darker, top or bottom?",
        "Is the top half or the bottom half darker?",
        "Which part is darker, top or bottom?",
    ),
    "brightness.yn_brighter": (
        "Is the {side} half brighter than the {other} half?",
        "Is the {side} half of the picture lighter than the {other} half?",
    ),
    "brightness.yn_darker": (
        "Is the {side} half darker than the {other} half?",
        "Is the {side} half of the picture darker than the {other} half?",
    ),
    "describe": (
        "Describe the picture.",
        "Describe the image in a few words.",
        "What does the picture show?",
        "Give a short description of the image.",
    ),
    "marker.cross_colour": (
        "What colour is the shape under the cross?",
        "Which colour is the shape marked with a cross?",
        "Name the colour of the shape with the cross on it.",
    ),
    "marker.cross_shape": (
        "What shape is under the cross?",
        "Which shape is marked with a cross?",
        "Name the shape that has the cross on it.",
    ),
    "marker.arrow_colour": (
        "What colour is the shape the arrow points to?",
        "The arrow points at a shape. What colour is it?",
        "Name the colour of the shape at the tip of the arrow.",
    ),
    "marker.arrow_shape": (
        "Which shape does the arrow point to?",
        "What shape is the arrow pointing at?",
        "Name the shape at the tip of the arrow.",
    ),
    "pair_same.shape": (
        "Do the two pictures show the same shape?",
        "Is the shape in the first image the same as the shape in the second image?",
        "Are the shapes in both images the same kind?",
    ),
    "pair_same.colour": (
        "Are the shapes in the two pictures the same colour?",
        "Do both images show a shape of the same colour?",
        "Is the colour of the shape the same in both pictures?",
    ),
    "pair_which": (
        "Which picture has the {desc}, the first or the second?",
        "In which image is there {adesc}: the first or the second?",
        "Which of the two images shows {adesc}?",
    ),
    "pair_brighter.brighter": (
        "Which picture is brighter, the first or the second?",
        "Which of the two images is lighter overall?",
        "Which image is brighter: the first one or the second one?",
    ),
    "pair_brighter.darker": (
        "Which picture is darker, the first or the second?",
        "Which of the two images is darker overall?",
        "Which image is darker: the first one or the second one?",
    ),
}

# Optional instructions appended to open-ended questions ("" = none). Not used inside options.
HINTS: dict[str, tuple[str, ...]] = {
    "word": ("", "Reply with one word.", "One word, please."),
    "corner": ("", "Name the corner.", "Reply like top left."),
    "number": ("", "Reply with a number.", "Give just the number."),
    "yesno": ("", "Reply yes or no.", "Say yes or no."),
    "pair": ("", "Reply with its colour and shape."),
    "phrase": ("", "Keep it short."),
    "order": ("", "Reply first or second."),
}


# Phrasings of the skill families (level 3), outside TEMPLATES: the shipped tokenizer was trained
# on mix_vocabulary_text without them.
SKILL_TEMPLATES: dict[str, tuple[str, ...]] = {
    "grid_step": (
        "On the grid, which way is it from the {a} to the {b}: left, right, up or down?",
        "The {a} and the {b} sit in neighbouring cells. Which way do you step from the {a} to reach the {b}?",
        "Which way is the {b} from the {a}: left, right, up or down?",
        "One step on the board takes the {a} to the {b}. Is that step left, right, up or down?",
    ),
}
GRID_STEPS = {"left": (0, -1), "right": (0, 1), "up": (-1, 0), "down": (1, 0)}  # (row, column) change
GRID_CELLS = 4  # 4 x 4 cells: one 28-pixel cell per merged image token at 112 pixels


def _opts(opts: list[str], fmt: str, sep: str) -> str:
    """The options joined by `sep`, each as `fmt` with {letter} and {option}."""
    return sep.join(fmt.format(letter=LETTERS[i], option=o) for i, o in enumerate(opts))


def _layout_options_line(q: str, opts: list[str]) -> str:
    return f"{q}\nOptions: {_opts(opts, '{letter}. {option}', '  ')}\nReply with the letter."


def _layout_lines(q: str, opts: list[str]) -> str:
    return f"{q}\n{_opts(opts, '{letter}. {option}', chr(10))}\nReply with just the letter."


def _layout_inline(q: str, opts: list[str]) -> str:
    return f"{q} Choose from {_opts(opts, '{letter}) {option}', ', ')}. Give the letter."


def _layout_first(q: str, opts: list[str]) -> str:
    return f"Options: {_opts(opts, '{letter} = {option}', ', ')}.\n{q} Letter only."


def _layout_brackets(q: str, opts: list[str]) -> str:
    return f"{q}\n{_opts(opts, '[{letter}] {option}', '  ')}\nWhich letter is right?"


LAYOUTS: tuple[Callable[[str, list[str]], str], ...] = (
    _layout_options_line, _layout_lines, _layout_inline, _layout_first, _layout_brackets,
)


# ----------------------------------------------------------------------------------------------
# Generation state


@dataclass
class Item:
    """One question before formatting: `distractors` are wrong answers usable as options,
    the most useful (present in the picture) first."""

    images: list[Image.Image]
    question: str
    answer: str
    distractors: list[str]
    hint: str
    meta: dict = field(default_factory=dict)


class _Ctx:
    """The random stream, the level's scene spec and the answer balancers of one call."""

    def __init__(self, rng: np.random.Generator, level: int, size: int):
        self.rng, self.level, self.size = rng, level, size
        self.spec = LEVEL_SPECS[level]
        self._queues: dict = {}

    def balanced(self, key: str, values):
        """The next value from shuffled blocks of `values`: over any run of draws with this key
        each value appears equally often, up to one block."""
        values = tuple(values)
        q = self._queues.get((key, values))
        if not q:
            q = [values[i] for i in self.rng.permutation(len(values))]
            self._queues[(key, values)] = q
        return q.pop()

    def pick(self, seq):
        return seq[int(self.rng.integers(len(seq)))]

    def shuffled(self, seq) -> list:
        return [seq[i] for i in self.rng.permutation(len(seq))]

    def s(self, lo: float | None = None, hi: float | None = None) -> float:
        a, b = self.spec.size_range
        return float(self.rng.uniform(a if lo is None else lo, b if hi is None else hi))

    def obj(self, shape: str, colour: str, s: float | None = None) -> Obj:
        return sc.new_obj(self.rng, shape, colour, self.s() if s is None else s, self.size)

    def n_objects(self, lo: int = 1) -> int:
        return int(self.rng.integers(lo, max(lo, self.spec.max_objects) + 1))

    def others(self, n: int, colours=(), shapes=()) -> list[Obj]:
        """n random objects avoiding the given colours and shapes."""
        cs = [c for c in self.spec.colours if c not in colours]
        ss = [s for s in self.spec.shapes if s not in shapes]
        return [self.obj(self.pick(ss), self.pick(cs)) for _ in range(n)]

    def hint(self, kind: str) -> str:
        return self.pick(HINTS[kind])


ATTEMPTS = 400  # placement is cheap; a rare draw (a relation that must hold) may need hundreds


def _ordered(ctx: _Ctx, present, pool, answer) -> list[str]:
    """Wrong answers: those present in the picture first (shuffled), then the rest of `pool`."""
    seen = [v for v in dict.fromkeys(present) if v != answer]
    rest = [v for v in pool if v != answer and v not in seen]
    return ctx.shuffled(seen) + ctx.shuffled(rest)


def _article(text: str) -> str:
    return ("an " if text[0] in "aeiou" else "a ") + text


def _desc(o: Obj, kind: str = "full") -> str:
    return {"full": f"{o.colour} {o.shape}", "colour": f"{o.colour} shape", "shape": o.shape}[kind]


def _one_image(ctx: _Ctx, objs: list[Obj], regions=None, kind: str | None = None):
    """Place and draw objs on one background; None if they do not fit."""
    if not sc.place(objs, ctx.size, ctx.rng, regions):
        return None
    return sc.scene(ctx.spec, ctx.rng, ctx.size, objs, kind)


# ----------------------------------------------------------------------------------------------
# Families. Each draws its balanced answer first, then tries up to ATTEMPTS pictures for it.


def fam_colour(ctx: _Ctx) -> Item | None:
    colour = ctx.balanced("colour", ctx.spec.colours)
    for _ in range(ATTEMPTS):
        shape = ctx.pick(ctx.spec.shapes)
        objs = [ctx.obj(shape, colour)] + ctx.others(ctx.n_objects() - 1, colours={colour}, shapes={shape})
        drawn = _one_image(ctx, objs)
        if drawn:
            single = len(objs) == 1 and ctx.rng.random() < 0.6
            q = ctx.pick(TEMPLATES["colour.single" if single else "colour.ref"]).format(shape=shape)
            dis = _ordered(ctx, [o.colour for o in objs], ctx.spec.colours, colour)
            return Item([drawn[0]], q, colour, dis, ctx.hint("word"), {"target": 0, "images": [drawn[1]]})
    return None


def fam_shape(ctx: _Ctx) -> Item | None:
    shape = ctx.balanced("shape", ctx.spec.shapes)
    for _ in range(ATTEMPTS):
        colour = ctx.pick(ctx.spec.colours)
        objs = [ctx.obj(shape, colour)] + ctx.others(ctx.n_objects() - 1, colours={colour}, shapes={shape})
        drawn = _one_image(ctx, objs)
        if drawn:
            single = len(objs) == 1 and ctx.rng.random() < 0.6
            q = ctx.pick(TEMPLATES["shape.single" if single else "shape.ref"]).format(colour=colour)
            dis = _ordered(ctx, [o.shape for o in objs], ctx.spec.shapes, shape)
            return Item([drawn[0]], q, shape, dis, ctx.hint("word"), {"target": 0, "images": [drawn[1]]})
    return None


_POSITION_VALUES = {"quadrant": QUADRANTS, "lr": ("left", "right"), "tb": ("top", "bottom")}


def fam_position(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("position.kind", tuple(_POSITION_VALUES))
    answer = ctx.balanced(f"position.{kind}", _POSITION_VALUES[kind])
    for _ in range(ATTEMPTS):
        colour, shape = ctx.pick(ctx.spec.colours), ctx.pick(ctx.spec.shapes)
        objs = [ctx.obj(shape, colour)] + ctx.others(ctx.n_objects() - 1, colours={colour}, shapes={shape})
        drawn = _one_image(ctx, objs, [answer] + [None] * (len(objs) - 1))
        if drawn:
            refs = [shape, f"{colour} shape", f"{colour} {shape}"]
            if len(objs) == 1:
                refs += ["shape", "object"]
            q = ctx.pick(TEMPLATES[f"position.{kind}"]).format(ref=ctx.pick(refs))
            dis = _ordered(ctx, [], _POSITION_VALUES[kind], answer)
            hint = ctx.hint("corner" if kind == "quadrant" else "word")
            return Item([drawn[0]], q, answer, dis, hint, {"kind": kind, "target": 0, "images": [drawn[1]]})
    return None


def fam_count(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("count.kind", ("all", "colour", "shape"))
    top = ctx.spec.max_objects
    k = ctx.balanced(f"count.{kind}", range(1, top + 1))
    for _ in range(ATTEMPTS):
        colour, shape = ctx.pick(ctx.spec.colours), ctx.pick(ctx.spec.shapes)
        extra = int(ctx.rng.integers(0, top - k + 1))
        if kind == "all":
            objs, fields = ctx.others(k), {}
        elif kind == "colour":
            objs = [ctx.obj(ctx.pick(ctx.spec.shapes), colour) for _ in range(k)]
            objs += ctx.others(extra, colours={colour})
            fields = {"colour": colour}
        else:
            objs = [ctx.obj(shape, ctx.pick(ctx.spec.colours)) for _ in range(k)]
            objs += ctx.others(extra, shapes={shape})
            fields = {"shapes": PLURALS[shape]}
        order = ctx.rng.permutation(len(objs))
        objs = [objs[i] for i in order]
        drawn = _one_image(ctx, objs)
        if drawn:
            q = ctx.pick(TEMPLATES[f"count.{kind}"]).format(**fields)
            near = [str(v) for v in (k - 1, k + 1, k - 2, k + 2) if 1 <= v <= top]
            dis = near + _ordered(ctx, [], [str(v) for v in range(1, top + 1)], str(k))
            dis = list(dict.fromkeys(dis))
            meta = {"kind": kind, "filter": fields, "images": [drawn[1]]}
            return Item([drawn[0]], q, str(k), dis, ctx.hint("number"), meta)
    return None


def _matches(o: Obj, colour: str, shape: str, kind: str) -> bool:
    return {"full": o.colour == colour and o.shape == shape, "colour": o.colour == colour,
            "shape": o.shape == shape}[kind]


def _near_miss(ctx: _Ctx, colour: str, shape: str, kind: str) -> Obj:
    """An object that shares one attribute with (colour, shape) but does not match `kind`."""
    other_c = ctx.pick([c for c in ctx.spec.colours if c != colour])
    other_s = ctx.pick([s for s in ctx.spec.shapes if s != shape])
    if kind == "colour":
        return ctx.obj(shape, other_c)
    if kind == "shape":
        return ctx.obj(other_s, colour)
    return ctx.obj(shape, other_c) if ctx.rng.random() < 0.5 else ctx.obj(other_s, colour)


def _scene_with_or_without(ctx: _Ctx, colour: str, shape: str, kind: str, present: bool, n: int) -> list[Obj]:
    """n objects (shuffled) that include one matching (colour, shape, kind) iff `present`; when
    absent, one of them is a near miss."""
    first = ctx.obj(shape, colour) if present else _near_miss(ctx, colour, shape, kind)
    objs = [first]
    while len(objs) < n:
        o = ctx.others(1)[0]
        if present or not _matches(o, colour, shape, kind):
            objs.append(o)
    return [objs[i] for i in ctx.rng.permutation(len(objs))]


def fam_exists(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("exists.kind", ("full", "colour", "shape"))
    answer = ctx.balanced(f"exists.{kind}", ("yes", "no"))
    for _ in range(ATTEMPTS):
        colour, shape = ctx.pick(ctx.spec.colours), ctx.pick(ctx.spec.shapes)
        objs = _scene_with_or_without(ctx, colour, shape, kind, answer == "yes", ctx.n_objects())
        drawn = _one_image(ctx, objs)
        if drawn:
            desc = _desc(Obj(shape, colour, 1.0), kind)
            q = ctx.pick(TEMPLATES["exists"]).format(desc=desc, adesc=_article(desc))
            meta = {"kind": kind, "query": {"colour": colour, "shape": shape}, "images": [drawn[1]]}
            return Item([drawn[0]], q, answer, ["no" if answer == "yes" else "yes"], ctx.hint("yesno"), meta)
    return None


def _named_pair(ctx: _Ctx) -> tuple[str, str, str, str]:
    """Colours and shapes of two objects that differ in colour (so 'the <colour> <shape>' is unique)."""
    c1, c2 = (str(c) for c in ctx.rng.choice(ctx.spec.colours, 2, replace=False))
    return c1, ctx.pick(ctx.spec.shapes), c2, ctx.pick(ctx.spec.shapes)


def fam_size(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("size.kind", ("bigger", "smaller", "yn_bigger", "yn_smaller"))
    yes_no = kind.startswith("yn")
    if yes_no:
        answer_key = ctx.balanced("size.yn", ("yes", "no"))
    else:
        answer_key = ctx.balanced("size.slot", ("first", "second"))
    # Which mention (a = first, b = second) is the big one.
    if yes_no:
        a_big = (answer_key == "yes") == (kind == "yn_bigger")
    else:
        a_big = (answer_key == "first") == (kind == "bigger")
    lo, hi = ctx.spec.size_range
    for _ in range(ATTEMPTS):
        c1, s1, c2, s2 = _named_pair(ctx)
        small = ctx.s(lo, hi / 1.5)
        big = min(hi, small * float(ctx.rng.uniform(1.5, 2.2)))
        a, b = ctx.obj(s1, c1, big if a_big else small), ctx.obj(s2, c2, small if a_big else big)
        extras = ctx.others(int(ctx.rng.integers(0, ctx.spec.max_objects - 1)), colours={c1, c2})
        objs = [a, b] + extras
        drawn = _one_image(ctx, objs)
        if not drawn:
            continue
        ratio = a.area / b.area if a_big else b.area / a.area
        if ratio < 2.0:
            continue
        q = ctx.pick(TEMPLATES[f"size.{kind}"]).format(a=_desc(a), b=_desc(b))
        if yes_no:
            answer, dis, hint = answer_key, ["no" if answer_key == "yes" else "yes"], ctx.hint("yesno")
        else:
            right, wrong = (a, b) if answer_key == "first" else (b, a)
            answer, dis, hint = _desc(right), [_desc(wrong)], ctx.hint("pair")
        meta = {"kind": kind, "a": 0, "b": 1, "area_ratio": round(ratio, 2), "images": [drawn[1]]}
        return Item([drawn[0]], q, answer, dis, hint, meta)
    return None


_RELATION_VALUES = {"lr": ("left", "right"), "ab": ("above", "below")}


def _relation_holds(a: Obj, b: Obj, answer: str) -> bool:
    """a lies wholly on the `answer` side of b (with 2 px to spare)."""
    gap = a.r + b.r + 2
    return {"left": b.cx - a.cx >= gap, "right": a.cx - b.cx >= gap,
            "above": b.cy - a.cy >= gap, "below": a.cy - b.cy >= gap}[answer]


def fam_relation(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("relation.kind", tuple(_RELATION_VALUES))
    answer = ctx.balanced(f"relation.{kind}", _RELATION_VALUES[kind])
    for _ in range(ATTEMPTS):
        c1, s1, c2, s2 = _named_pair(ctx)
        a, b = ctx.obj(s1, c1), ctx.obj(s2, c2)
        extras = ctx.others(int(ctx.rng.integers(0, ctx.spec.max_objects - 1)), colours={c1, c2})
        objs = [a, b] + extras
        if not sc.place(objs, ctx.size, ctx.rng) or not _relation_holds(a, b, answer):
            continue
        img, meta = sc.scene(ctx.spec, ctx.rng, ctx.size, objs)
        q = ctx.pick(TEMPLATES[f"relation.{kind}"]).format(a=_desc(a), b=_desc(b))
        dis = [v for v in _RELATION_VALUES[kind] if v != answer]
        return Item([img], q, answer, dis, ctx.hint("word"), {"kind": kind, "a": 0, "b": 1, "images": [meta]})
    return None


def _lum_pair(ctx: _Ctx) -> tuple[tuple[float, float], tuple[float, float]]:
    """Luma ranges (bright, dark) at least 60 apart."""
    b = float(ctx.rng.uniform(110, 225))
    d = float(ctx.rng.uniform(max(10.0, b - 150), b - 60))
    return (b - 8, b + 8), (d - 8, d + 8)


MIN_LUMA_GAP = 35.0


def _brightness_scene(ctx: _Ctx, bright_half: str) -> tuple[Image.Image, dict] | None:
    """A picture whose `bright_half` is brighter (by >= MIN_LUMA_GAP in mean luma) than the
    opposite half, with up to two outlined shapes on top; None if the measured gap is too small."""
    size, rng = ctx.size, ctx.rng
    dark_half = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}[bright_half]
    orientation = "lr" if bright_half in ("left", "right") else "tb"
    kind = sc.pick_background_kind(ctx.spec, rng)
    if kind == "photo":
        base, bg = sc.photo_background(rng, size)
        img = sc.darken_half(base, dark_half, float(rng.uniform(0.4, 0.65)))
        img = sc.darken_half(img, bright_half, float(rng.uniform(1.0, 1.25)))
    else:
        bright_lum, dark_lum = _lum_pair(ctx)
        img, _, bg = sc.synthetic_background(kind, rng, size, bright_lum)
        dark, _, _ = sc.synthetic_background(kind, rng, size, dark_lum)
        box = sc.region_box(dark_half, size)
        box = tuple(int(v) for v in box)
        img.paste(dark.crop(box), box[:2])
    objs = ctx.others(int(rng.integers(0, 3)) if ctx.level else 0)
    for o in objs:
        o.r = min(o.r, size * 0.1)
        o.outline = True
    if objs and not sc.place(objs, size, rng):
        objs = []
    sc.draw_objects(img, objs)
    first, second = sc.half_boxes(orientation, size)
    lums = (sc.mean_luminance(img, first), sc.mean_luminance(img, second))
    bright_is_first = bright_half in ("left", "top")
    gap = (lums[0] - lums[1]) if bright_is_first else (lums[1] - lums[0])
    if gap < MIN_LUMA_GAP:
        return None
    meta = {"background": bg, "objects": [o.meta() for o in objs], "bright_half": bright_half,
            "half_luma": [round(v, 1) for v in lums], "orientation": orientation}
    return img, meta


def fam_brightness(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("brightness.kind", ("lr", "tb", "yn"))
    ask = ctx.balanced(f"brightness.{kind}.ask", ("brighter", "darker"))
    if kind == "yn":
        answer = ctx.balanced("brightness.yn", ("yes", "no"))
        side, other = ctx.pick((("left", "right"), ("right", "left"), ("top", "bottom"), ("bottom", "top")))
        asked_is_brighter = (answer == "yes") == (ask == "brighter")
        bright_half = side if asked_is_brighter else other
    else:
        values = ("left", "right") if kind == "lr" else ("top", "bottom")
        answer = ctx.balanced(f"brightness.{kind}", values)
        side = other = ""
        bright_half = answer if ask == "brighter" else [v for v in values if v != answer][0]
    for _ in range(ATTEMPTS):
        drawn = _brightness_scene(ctx, bright_half)
        if drawn:
            q = ctx.pick(TEMPLATES[f"brightness.{kind}_{ask}"]).format(side=side, other=other)
            if kind == "yn":
                dis, hint = ["no" if answer == "yes" else "yes"], ctx.hint("yesno")
            else:
                dis, hint = [v for v in values if v != answer], ctx.hint("word")
            return Item([drawn[0]], q, answer, dis, hint, {"kind": kind, "ask": ask, "images": [drawn[1]]})
    return None


_SIZE_WORDS = {"big": (0.2, 0.25), "small": (0.08, 0.11)}


def _description(size_word: str, colour: str, shape: str, quadrant: str) -> str:
    return f"a {size_word} {colour} {shape} at the {quadrant}"


def fam_describe(ctx: _Ctx) -> Item | None:
    size_word = ctx.balanced("describe.size", tuple(_SIZE_WORDS))
    colour = ctx.balanced("describe.colour", ctx.spec.colours)
    quadrant = ctx.balanced("describe.quadrant", QUADRANTS)
    for _ in range(ATTEMPTS):
        shape = ctx.pick(ctx.spec.shapes)
        o = ctx.obj(shape, colour, ctx.s(*_SIZE_WORDS[size_word]))
        drawn = _one_image(ctx, [o], [quadrant])
        if drawn:
            answer = _description(size_word, colour, shape, quadrant)
            other_size = "small" if size_word == "big" else "big"
            other_colour = ctx.pick([c for c in ctx.spec.colours if c != colour])
            other_shape = ctx.pick([s for s in ctx.spec.shapes if s != shape])
            other_quadrant = ctx.pick([v for v in QUADRANTS if v != quadrant])
            dis = [  # one attribute wrong each
                _description(size_word, other_colour, shape, quadrant),
                _description(size_word, colour, other_shape, quadrant),
                _description(size_word, colour, shape, other_quadrant),
                _description(other_size, colour, shape, quadrant),
            ]
            q = ctx.pick(TEMPLATES["describe"])
            meta = {"size_word": size_word, "images": [drawn[1]]}
            return Item([drawn[0]], q, answer, ctx.shuffled(dis), ctx.hint("phrase"), meta)
    return None


def fam_marker(ctx: _Ctx) -> Item | None:
    kind = ctx.balanced("marker.kind", ("cross_colour", "cross_shape", "arrow_colour", "arrow_shape"))
    marker, attr = kind.split("_")
    pool = ctx.spec.colours if attr == "colour" else ctx.spec.shapes
    answer = ctx.balanced(f"marker.{attr}", pool)
    lo, hi = ctx.spec.size_range
    for _ in range(ATTEMPTS):
        n = int(ctx.rng.integers(2, min(5, ctx.spec.max_objects) + 1))
        colour = answer if attr == "colour" else ctx.pick(ctx.spec.colours)
        shape = answer if attr == "shape" else ctx.pick(ctx.spec.shapes)
        target = ctx.obj(shape, colour, ctx.s(max(lo, 0.11), hi))
        avoid = {"colours": {colour}} if attr == "colour" else {"shapes": {shape}}
        objs = [target] + ctx.others(n - 1, **avoid)
        if not sc.place(objs, ctx.size, ctx.rng):
            continue
        path = sc.arrow_path(target, objs[1:], ctx.size, ctx.rng) if marker == "arrow" else None
        if marker == "arrow" and path is None:
            continue
        img, meta = sc.scene(ctx.spec, ctx.rng, ctx.size, objs)
        if marker == "cross":
            meta["marker"] = sc.draw_cross(img, target, bool(ctx.rng.random() < 0.5))
        else:
            meta["marker"] = sc.draw_arrow(img, *path, dark=bool(ctx.rng.random() < 0.5))
        dis = _ordered(ctx, [getattr(o, attr) for o in objs], pool, answer)
        return Item([img], ctx.pick(TEMPLATES[f"marker.{kind}"]), answer, dis, ctx.hint("word"),
                    {"kind": kind, "target": 0, "images": [meta]})
    return None


def fam_pair_same(ctx: _Ctx) -> Item | None:
    attr = ctx.balanced("pair_same.kind", ("shape", "colour"))
    answer = ctx.balanced(f"pair_same.{attr}", ("yes", "no"))
    pool = ctx.spec.shapes if attr == "shape" else ctx.spec.colours
    for _ in range(ATTEMPTS):
        v1 = ctx.pick(pool)
        v2 = v1 if answer == "yes" else ctx.pick([v for v in pool if v != v1])
        objs = []
        for v in (v1, v2):
            shape = v if attr == "shape" else ctx.pick(ctx.spec.shapes)
            colour = v if attr == "colour" else ctx.pick(ctx.spec.colours)
            objs.append(ctx.obj(shape, colour))
        drawn = [_one_image(ctx, [o]) for o in objs]
        if all(drawn):
            q = ctx.pick(TEMPLATES[f"pair_same.{attr}"])
            meta = {"kind": attr, "images": [d[1] for d in drawn]}
            return Item([d[0] for d in drawn], q, answer, ["no" if answer == "yes" else "yes"],
                        ctx.hint("yesno"), meta)
    return None


def fam_pair_which(ctx: _Ctx) -> Item | None:
    answer = ctx.balanced("pair_which", ("first", "second"))
    kind = ctx.balanced("pair_which.kind", ("full", "colour", "shape"))
    top = min(3, ctx.spec.max_objects)
    for _ in range(ATTEMPTS):
        colour, shape = ctx.pick(ctx.spec.colours), ctx.pick(ctx.spec.shapes)
        with_it = _scene_with_or_without(ctx, colour, shape, kind, True, int(ctx.rng.integers(1, top + 1)))
        without = _scene_with_or_without(ctx, colour, shape, kind, False, int(ctx.rng.integers(1, top + 1)))
        pair = (with_it, without) if answer == "first" else (without, with_it)
        drawn = [_one_image(ctx, objs) for objs in pair]
        if all(drawn):
            desc = _desc(Obj(shape, colour, 1.0), kind)
            q = ctx.pick(TEMPLATES["pair_which"]).format(desc=desc, adesc=_article(desc))
            meta = {"kind": kind, "query": {"colour": colour, "shape": shape},
                    "images": [d[1] for d in drawn]}
            return Item([d[0] for d in drawn], q, answer, ["second" if answer == "first" else "first"],
                        ctx.hint("order"), meta)
    return None


def _plain_luma_image(ctx: _Ctx, lum: tuple[float, float], photo_factor: float) -> tuple[Image.Image, dict]:
    """A background of the level's kinds near luma `lum` (photos: scaled by photo_factor), with
    up to two outlined shapes."""
    kind = sc.pick_background_kind(ctx.spec, ctx.rng)
    if kind == "photo":
        img, bg = sc.photo_background(ctx.rng, ctx.size)
        img = sc.scale_brightness(img, photo_factor)
    else:
        img, _, bg = sc.synthetic_background(kind, ctx.rng, ctx.size, lum)
    objs = ctx.others(int(ctx.rng.integers(0, 3)))
    for o in objs:
        o.r = min(o.r, ctx.size * 0.1)
        o.outline = True
    if objs and not sc.place(objs, ctx.size, ctx.rng):
        objs = []
    sc.draw_objects(img, objs)
    luma = round(sc.mean_luminance(img), 1)
    return img, {"background": bg, "objects": [o.meta() for o in objs], "luma": luma}


def fam_pair_brighter(ctx: _Ctx) -> Item | None:
    ask = ctx.balanced("pair_brighter.kind", ("brighter", "darker"))
    answer = ctx.balanced("pair_brighter", ("first", "second"))
    bright_first = (answer == "first") == (ask == "brighter")
    for _ in range(ATTEMPTS):
        bright_lum, dark_lum = _lum_pair(ctx)
        bright = _plain_luma_image(ctx, bright_lum, float(ctx.rng.uniform(1.0, 1.3)))
        dark = _plain_luma_image(ctx, dark_lum, float(ctx.rng.uniform(0.4, 0.65)))
        if bright[1]["luma"] - dark[1]["luma"] < MIN_LUMA_GAP:
            continue
        drawn = (bright, dark) if bright_first else (dark, bright)
        q = ctx.pick(TEMPLATES[f"pair_brighter.{ask}"])
        return Item([d[0] for d in drawn], q, answer, ["second" if answer == "first" else "first"],
                    ctx.hint("order"), {"kind": ask, "images": [d[1] for d in drawn]})
    return None


def _grid_board(ctx: _Ctx, avoid: list[tuple[int, int, int]]) -> tuple[Image.Image, dict] | None:
    """A board of GRID_CELLS x GRID_CELLS tiles: one muted colour, each tile shaded by its own
    factor, darker lines between tiles; None when the colour does not contrast with `avoid`."""
    n, size = GRID_CELLS, ctx.size
    base = np.array(sc.muted_colour(ctx.rng, (70.0, 200.0)), float)
    shades = ctx.rng.uniform(0.85, 1.15, (n, n))
    tiles = [tuple(int(v) for v in np.clip(base * f, 0, 255)) for f in shades.ravel()]
    if not all(sc.contrasts(fill, tiles) for fill in avoid):
        return None
    img = Image.new("RGB", (size, size))
    draw = ImageDraw.Draw(img)
    edges = [round(i * size / n) for i in range(n + 1)]
    for k, tile in enumerate(tiles):
        r, c = divmod(k, n)
        draw.rectangle([edges[c], edges[r], edges[c + 1] - 1, edges[r + 1] - 1], fill=tile)
    line = tuple(int(v) for v in base * 0.6)
    for e in edges[1:-1]:
        draw.line([(e, 0), (e, size)], fill=line)
        draw.line([(0, e), (size, e)], fill=line)
    return img, {"kind": "grid", "cells": n, "colour": [int(v) for v in base]}


def fam_grid_step(ctx: _Ctx) -> Item | None:
    """Two shapes in neighbouring cells of a board (plus 0-2 others elsewhere): which way is the
    step from the first to the second? Objects sit at cell centres, so each fills one image token."""
    answer = ctx.balanced("grid_step", tuple(GRID_STEPS))
    dr, dc = GRID_STEPS[answer]
    n, cell = GRID_CELLS, ctx.size / GRID_CELLS
    starts = [(r, c) for r in range(n) for c in range(n) if 0 <= r + dr < n and 0 <= c + dc < n]
    for _ in range(ATTEMPTS):
        c1, s1, c2, s2 = _named_pair(ctx)
        a_cell = starts[int(ctx.rng.integers(len(starts)))]
        b_cell = (a_cell[0] + dr, a_cell[1] + dc)
        free = [(r, c) for r in range(n) for c in range(n) if (r, c) not in (a_cell, b_cell)]
        extra_cells = [free[i] for i in ctx.rng.permutation(len(free))[: int(ctx.rng.integers(0, 3))]]
        objs = [ctx.obj(s1, c1), ctx.obj(s2, c2)] + ctx.others(len(extra_cells), colours={c1, c2})
        for o, (r, c) in zip(objs, [a_cell, b_cell, *extra_cells]):
            o.r = 0.4 * cell  # circumradius: the shape fills most of its cell and stays inside it
            o.cx, o.cy = (c + 0.5) * cell, (r + 0.5) * cell
        board = _grid_board(ctx, [o.rgb for o in objs])
        if board is None:
            continue
        img, bg = board
        sc.draw_objects(img, objs)
        a, b = objs[0], objs[1]
        q = ctx.pick(SKILL_TEMPLATES["grid_step"]).format(a=_desc(a), b=_desc(b))
        dis = [v for v in GRID_STEPS if v != answer]
        meta = {"a_cell": list(a_cell), "b_cell": list(b_cell), "cells": n,
                "images": [{"background": bg, "objects": [o.meta() for o in objs]}]}
        return Item([img], q, answer, ctx.shuffled(dis), ctx.hint("word"), meta)
    return None


FAMILY_FNS: dict[str, Callable[[_Ctx], Item | None]] = {
    "colour": fam_colour,
    "shape": fam_shape,
    "position": fam_position,
    "count": fam_count,
    "exists": fam_exists,
    "size": fam_size,
    "relation": fam_relation,
    "brightness": fam_brightness,
    "describe": fam_describe,
    "marker": fam_marker,
    "pair_same": fam_pair_same,
    "pair_which": fam_pair_which,
    "pair_brighter": fam_pair_brighter,
    "grid_step": fam_grid_step,
}


def _base_item(ctx: _Ctx, family: str) -> Item:
    item = FAMILY_FNS[family](ctx)
    if item is None:  # every family places a few objects in a big picture: only a bug gets here
        raise RuntimeError(f"pretrain mix: no {family} picture fits after {ATTEMPTS} attempts")
    return item


def _choice(ctx: _Ctx) -> tuple[Item, str, dict]:
    """A question of another family with 2-4 lettered options; the letter is balanced per
    number of options."""
    bases = [f for f in CHOICE_BASES if FAMILIES[f].min_level <= ctx.level]
    base = ctx.balanced("choice.base", bases)
    item = _base_item(ctx, base)
    k = min(ctx.balanced("choice.k", (2, 3, 4)), 1 + len(item.distractors))
    slot = ctx.balanced(f"choice.letter{k}", range(k))
    options = item.distractors[: k - 1]
    options.insert(slot, item.answer)
    prompt = ctx.pick(LAYOUTS)(item.question, options)
    meta = {"base": base, "options": options, "base_answer": item.answer}
    return item, prompt, {**meta, "letter": LETTERS[slot]}


# ----------------------------------------------------------------------------------------------
# Public API


def families_at(level: int) -> list[str]:
    """The families a level draws from, in FAMILIES order: those starting at or below it, except
    at SKILL_LEVEL, which draws only the families that start there."""
    if level == SKILL_LEVEL:
        return [f for f, info in FAMILIES.items() if info.min_level == SKILL_LEVEL]
    return [f for f, info in FAMILIES.items() if info.min_level <= level]


def _rng(*parts) -> np.random.Generator:
    """A PCG64 stream seeded by SHA-256 of the parts (stable across runs and machines)."""
    digest = hashlib.sha256("|".join(["livr.pretrain.mix", *map(str, parts)]).encode()).digest()
    return np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], "little")))


def _check_args(n: int, level: int, split: str, image_size: int) -> None:
    if level not in LEVELS:
        raise ConfigError(f"pretrain mix: level {level!r} is not one of {LEVELS}")
    if split not in SPLITS:
        raise ConfigError(f"pretrain mix: split {split!r} is not one of {SPLITS}")
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"pretrain mix: n={n!r} must be a non-negative integer")
    if image_size < MIN_IMAGE_SIZE:
        raise ConfigError(
            f"pretrain mix: image_size={image_size} is too small; use at least {MIN_IMAGE_SIZE}"
        )


def _record(ctx: _Ctx, family: str, rid: str, split: str) -> dict:
    if family == "choice":
        item, prompt, extra = _choice(ctx)
        answer = extra["letter"]
    else:
        item = _base_item(ctx, family)
        prompt = f"{item.question} {item.hint}" if item.hint else item.question
        answer, extra = item.answer, {}
    meta = {"family": family, "level": ctx.level, "split": split, "image_size": ctx.size,
            **item.meta, **extra}
    return {"id": rid, "task": f"pretrain/{family}", "images": item.images, "prompt": prompt,
            "answer": answer, "metadata": meta}


def _generate(n, seed, level, split, image_size, families: list[str], stream) -> list[dict]:
    _check_args(n, level, split, image_size)
    ctx = _Ctx(_rng(*stream), level, int(image_size))
    out = []
    for i in range(n):
        family = ctx.balanced("family", families)
        out.append(_record(ctx, family, f"pretrain-{split}-l{level}-s{seed}-{i:06d}", split))
    return out


def generate_mix(n: int, *, seed: int, level: int, split: str = "train", image_size: int = 112) -> list[dict]:
    """n records drawn from every family available at `level`, in equal shares (see the module
    docstring); identical for identical arguments."""
    return _generate(n, seed, level, split, image_size, families_at(level), (split, level, seed))


def generate_family(
    family: str, n: int, *, seed: int, level: int, split: str = "train", image_size: int = 112
) -> list[dict]:
    """n records of one family (for per-family evaluation and tests); its own random stream."""
    if family not in FAMILIES:
        raise ConfigError(f"pretrain mix: unknown family {family!r}; choose from {sorted(FAMILIES)}")
    if level not in LEVELS:
        raise ConfigError(f"pretrain mix: level {level!r} is not one of {LEVELS}")
    if FAMILIES[family].min_level > level:
        raise ConfigError(
            f"pretrain mix: family {family!r} starts at level {FAMILIES[family].min_level}, not {level}"
        )
    if family not in families_at(level):
        raise ConfigError(f"pretrain mix: level {level} draws only {', '.join(families_at(level))}, not {family!r}")
    return _generate(n, seed, level, split, image_size, [family], (split, level, seed, family))


# ----------------------------------------------------------------------------------------------
# Vocabulary


def _fillers() -> dict[str, list[str]]:
    colours, shapes = list(NAMED_COLOURS), list(SHAPES)
    descs = [f"{c} {s}" for c in colours for s in shapes] + [f"{c} shape" for c in colours] + shapes
    return {
        "shape": shapes,
        "shapes": [PLURALS[s] for s in shapes],
        "colour": colours,
        "ref": descs + ["shape", "object"],
        "desc": descs,
        "adesc": [_article(d) for d in descs],
        "a": descs,
        "b": descs,
        "side": ["left", "right", "top", "bottom"],
        "other": ["left", "right", "top", "bottom"],
    }


def answer_vocabulary() -> list[str]:
    """Every answer the mix can give (letters, words, numbers and descriptions)."""
    colours, shapes = list(NAMED_COLOURS), list(SHAPES)
    out = list(LETTERS) + colours + shapes + list(QUADRANTS)
    out += [str(k) for k in range(1, max(s.max_objects for s in LEVEL_SPECS.values()) + 1)]
    out += ["yes", "no", "left", "right", "top", "bottom", "above", "below", "first", "second"]
    out += [f"{c} {s}" for c in colours for s in shapes]
    out += [_description(w, c, s, q) for w in _SIZE_WORDS for c in colours for s in shapes for q in QUADRANTS]
    return out


def mix_vocabulary_text() -> list[str]:
    """Texts that contain every word and punctuation mark the mix can emit in prompts and
    answers (each template filled with each value of each placeholder in turn, every hint,
    every option layout, every answer), for training the tokenizer."""
    fillers = _fillers()
    out: list[str] = []
    for templates in TEMPLATES.values():
        for t in templates:
            names = re.findall(r"{(\w+)}", t)
            base = {k: v[0] for k, v in fillers.items()}
            out.append(t.format(**base))
            for name in dict.fromkeys(names):
                out += [t.format(**{**base, name: v}) for v in fillers[name]]
    out += [h for hints in HINTS.values() for h in hints if h]
    answers = answer_vocabulary()
    for layout in LAYOUTS:
        for k in (2, 3, 4):
            out.append(layout("What colour is the shape?", answers[4 : 4 + k]))
    out += answers
    return list(dict.fromkeys(out))
