"""The one writer of new prompts, responses and items (and the labels that come with imported items).

Every path that adds content to a project goes through a `Writer`: the importers, the demo seed,
and generation. It stages objects, then `save()` writes them in bulk (call it inside the caller's
transaction). A prompt is identified within its project by its content hash: staging one that
already exists (in the database or earlier in this writer) returns the existing one.

    writer = Writer(project)
    prompt = writer.prompt("How do I boil an egg?")
    a = writer.response(prompt, "7 minutes.", source="model:tiny-policy", sampling={"temperature": 0.7})
    b = writer.response(prompt, "No idea.", source="model:tiny-policy", sampling={"temperature": 0.7})
    writer.item(prompt, a, b)
    counts = writer.save()  # WriteCounts(prompts=1, responses=2, items=1, labels=0)
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from labeling.data.rows import prompt_hash
from labeling.models import Item, Judgment, Project, Prompt, Response

BATCH = 500
PromptValue = str | list[dict]  # text, or a conversation of {role, content} turns ending with a user turn


@dataclass(frozen=True)
class WriteCounts:
    prompts: int
    responses: int
    items: int
    labels: int


class Writer:
    """Stages new prompts, responses, items and labels for one project; `save()` writes them."""

    def __init__(self, project: Project):
        self.project = project
        self._prompts: dict[str, Prompt] = {}  # by content hash: existing and new
        self._looked_up: set[str] = set()
        self._new_prompts: list[Prompt] = []
        self._responses: dict[tuple, Response] = {}
        self._items: list[Item] = []
        self._labels: list[Judgment] = []

    def preload(self, prompts: Iterable[PromptValue]) -> None:
        """Look up many prompts' existing rows at once (else `prompt()` asks for each one it has not seen)."""
        missing = [h for h in dict.fromkeys(prompt_hash(p) for p in prompts) if h not in self._looked_up]
        self._lookup(missing)

    def _lookup(self, hashes: list[str]) -> None:
        for start in range(0, len(hashes), BATCH):
            chunk = hashes[start : start + BATCH]
            self._looked_up.update(chunk)
            for found in Prompt.objects.filter(project=self.project, content_hash__in=chunk).order_by("id"):
                self._prompts.setdefault(found.content_hash, found)

    def prompt(
        self,
        value: PromptValue,
        *,
        external_id: str = "",
        metadata: dict | None = None,
        split: str = Prompt.Split.TRAIN,
    ) -> Prompt:
        """The project's prompt with this content: the existing one, or a new one (written by `save`)."""
        h = prompt_hash(value)
        if h not in self._looked_up:
            self._lookup([h])
        if h not in self._prompts:
            text, conversation = (value, None) if isinstance(value, str) else ("", value)
            self._prompts[h] = Prompt(
                project=self.project,
                text=text,
                conversation=conversation,
                external_id=external_id[:200],
                metadata=metadata or {},
                split=split,
                content_hash=h,
            )
            self._new_prompts.append(self._prompts[h])
        return self._prompts[h]

    def response(self, prompt: Prompt, text: str, *, source: str, sampling: dict | None = None) -> Response:
        """A new response to `prompt` (the same prompt, text, source and sampling staged twice give one)."""
        source = source[:200]
        key = (prompt.content_hash or id(prompt), text, source, json.dumps(sampling or {}, sort_keys=True))
        if key not in self._responses:
            self._responses[key] = Response(prompt=prompt, text=text, source=source, sampling=sampling or {})
        return self._responses[key]

    def item(self, prompt: Prompt, response_a: Response, response_b: Response | None = None, *, gold: str = "") -> Item:
        """A new item: two responses (pairwise) or one (binary)."""
        item = Item(project=self.project, prompt=prompt, response_a=response_a, response_b=response_b, gold=gold)
        self._items.append(item)
        return item

    def label(self, item: Item, choice: str, *, source: str) -> Judgment:
        """A label that came with the data (no annotator; it does not fill annotators' queues)."""
        judgment = Judgment(
            item=item, annotator=None, choice=choice, client_token=f"import-{uuid.uuid4().hex}", source=source[:200]
        )
        self._labels.append(judgment)
        return judgment

    def save(self) -> WriteCounts:
        """Write everything staged, in bulk; run it inside a transaction."""
        Prompt.objects.bulk_create(self._new_prompts, batch_size=BATCH)
        responses = list(self._responses.values())
        Response.objects.bulk_create(responses, batch_size=BATCH)
        Item.objects.bulk_create(self._items, batch_size=BATCH)
        Judgment.objects.bulk_create(self._labels, batch_size=2 * BATCH)
        counts = WriteCounts(
            prompts=len(self._new_prompts), responses=len(responses), items=len(self._items), labels=len(self._labels)
        )
        self._new_prompts, self._responses, self._items, self._labels = [], {}, [], []
        return counts
