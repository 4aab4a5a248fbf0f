"""The demo data set the project writes itself: small prompts with two candidate answers each."""

import random

from labeling.data.writer import WriteCounts, Writer
from labeling.models import Project

PROMPTS = [
    ("How do I boil an egg?", "Put the egg in boiling water for 7 minutes, then cool it in cold water."),
    ("How do I reverse a list in Python?", "Use slicing: `items[::-1]`, or `items.reverse()` to reverse in place."),
    ("How do I say hello in Spanish?", '"Hola" is the usual greeting; "buenos días" in the morning.'),
    ("What is 10 km in miles?", "10 km is about 6.21 miles (1 km = 0.621371 mi)."),
    ("Which is the largest planet?", "Jupiter is the largest planet in the Solar System."),
    (
        "Write a haiku about rain.",
        "Soft rain on the roof /\nthe gutters hum a low tune /\nthe street shines like glass",
    ),
    ("What does DNS do?", "DNS turns names like example.com into IP addresses computers can route to."),
    ("How do I sort a dict by value in Python?", "```python\nsorted(d.items(), key=lambda kv: kv[1])\n```"),
    ("Suggest a name for my cat.", "How about Miso, Pepper or Juniper?"),
    ("Explain photosynthesis in one sentence.", "Plants use light to turn water and CO2 into sugar and oxygen."),
    ("What is the capital of Australia?", "Canberra is the capital of Australia."),
    ("What is a prime number?", "A prime is a whole number above 1 whose only divisors are 1 and itself."),
]

WEAK = [
    "I'm not sure, maybe search for it?",
    "That is a great question! There are many ways to think about it and it depends on many factors.",
    "No.",
    "As an AI, I cannot help with that.",
]


def demo_rows(seed: int = 0) -> list[dict]:
    """One row per prompt: the prompt, a good answer and a weak one (weak answers drawn by `seed`)."""
    rng = random.Random(seed)
    return [{"prompt": prompt, "good": good, "weak": rng.choice(WEAK)} for prompt, good in PROMPTS]


def write_demo_items(project: Project, rows: list[dict], *, seed: int = 1) -> WriteCounts:
    """The demo rows as items of `project`, through the one writer: a pairwise project gets the good
    and the weak answer in a seeded order; a binary one an item for each answer."""
    rng = random.Random(seed)
    writer = Writer(project)
    for row in rows:
        prompt = writer.prompt(row["prompt"])
        good = writer.response(prompt, row["good"], source="demo:good")
        weak = writer.response(prompt, row["weak"], source="demo:weak")
        if project.kind == Project.Kind.PAIRWISE:
            writer.item(prompt, *((good, weak) if rng.random() < 0.5 else (weak, good)))
        else:
            writer.item(prompt, good)
            writer.item(prompt, weak)
    return writer.save()
