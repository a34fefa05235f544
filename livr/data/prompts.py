"""Prompt templates per task, in BLINK's phrasing, shared by generators, builders and loaders.

Multiple-choice prompts follow BLINK's `prompt` field (question, "Select from the following
choices.", then "(A) ..." lines) plus the lmms-eval instruction to answer with the letter.
Counting is open-ended as in the paper; vsp follows Mirage's FrozenLake format and its answers
end with "Action plan: ...".
"""

from __future__ import annotations

from livr.data.schema import choice_letter

MCQ_SUFFIX = "Answer with the option's letter from the given choices directly."

QUESTIONS: dict[str, str] = {
    "jigsaw": (
        "Given the first image with the lower right corner missing, can you tell which one of "
        "the second image or the third image is the missing part? Imagine which image would be "
        "more appropriate to place in the missing spot. You can also carefully observe and "
        "compare the edges of the images."
    ),
    "localization": (
        "A bounding box is an annotated rectangle surrounding an object. The edges of bounding "
        "boxes should touch the outermost pixels of the object that is being labeled. Given the "
        "two bounding boxes on the image, labeled by A and B, which bounding box more accurately "
        "localizes and encloses the {object}?"
    ),
    "visual_correspondence": (
        "A point is circled on the first image, labeled with REF. We change the camera position "
        "or lighting and shoot the second image. You are given multiple red-circled points on the "
        'second image, choices of "A, B, C, D" are drawn beside each circle. Which point on the '
        "second image corresponds to the point in the first image? Select from the following "
        "options."
    ),
    "art_style": (
        "Some most common art painting styles include Realism, Impressionism, Expressionism, Pop "
        "Art, and Cubism. Given the following images of art paintings, use the first image as the "
        "reference image, and determine which one of the second or the third image shares the "
        "same style as the reference image?"
    ),
    "semantic_correspondence": (
        "Humans can find corresponding points for different objects in the same category. For "
        "instance, if there are images of two different cats, then the left ear tip of one cat "
        "corresponds to the left ear tip of the other cat, and the right front paw of one cat "
        "corresponds to the right front paw of the other cat. Given the following two images, a "
        "reference point is annotated on the first image, labeled with REF. You are given "
        'multiple red-circled points on the second image, choices of "A, B, C, D" are drawn '
        "beside each circle. Which point on the second image corresponds to the reference point "
        "in the first image? Select between the choices on the second image."
    ),
    "functional_correspondence": (
        "Humans can find corresponding points for the same action between different objects. For "
        'instance, if a person uses a pot versus a hammer to "Mash Pound", then the handle of the '
        "pot will be the corresponding point to the handle of the hammer because they serve the "
        "same function for the action -- to hold. Given the following two images, a reference "
        "point is annotated on the first image, labeled with REF. You are given multiple "
        'red-circled points on the second image, choices of "A, B, C, D" are drawn beside each '
        "circle. Which point on the second image corresponds to the reference point in the first "
        'image and serves the same function for the action "{action}"? Select between the '
        "choices on the second image."
    ),
    "relative_reflectance": (
        "Two points are circled on the image, labeled by A and B beside each circle. Which point "
        "has darker surface color, or the colors is about the same? The difference in surface "
        "color is caused by the material or the texture of the object, not the lighting or "
        "shadow."
    ),
    "visual_similarity": (
        "Given three similar but different images, take the first image as reference. Can you "
        "tell which one of the latter two images is most similar to the first one?"
    ),
    "counting": "How many {object} are in the image? Answer with a single number.",
    "vsp": (
        "You are a maze solver. The image shows a frozen lake on a {size}x{size} grid. The player "
        "(the elf) starts at its square and must reach the gift without stepping into any hole. "
        "The player moves one square at a time with the actions L (left), R (right), U (up) and "
        "D (down). Give a plan that reaches the gift. End your answer with "
        '"Action plan: " followed by the actions separated by commas, e.g. "Action plan: R, D".'
    ),
}

CHOICES: dict[str, list[str]] = {
    "jigsaw": ["the second image", "the third image"],
    "localization": ["Box A", "Box B"],
    "visual_correspondence": ["Point A", "Point B", "Point C", "Point D"],
    "art_style": ["the second image", "the third image"],
    "semantic_correspondence": ["Point A", "Point B", "Point C", "Point D"],
    "functional_correspondence": ["Point A", "Point B", "Point C", "Point D"],
    "relative_reflectance": ["A is darker", "B is darker", "About the same"],
    "visual_similarity": ["the second image", "the third image"],
    "counting": [],
    "vsp": [],
}


def format_mcq(question: str, choices: list[str]) -> str:
    """BLINK's MCQ layout: question, 'Select from the following choices.', '(A) ...' lines."""
    lines = [question, "Select from the following choices."]
    lines += [f"({choice_letter(i)}) {c}" for i, c in enumerate(choices)]
    lines.append(MCQ_SUFFIX)
    return "\n".join(lines)


def build_prompt(task: str, **fields: str) -> tuple[str, list[str], str]:
    """Return (question, choices, prompt) for `task`, filling placeholders like {object}."""
    question = QUESTIONS[task].format(**fields)
    choices = list(CHOICES[task])
    prompt = format_mcq(question, choices) if choices else question
    return question, choices, prompt
