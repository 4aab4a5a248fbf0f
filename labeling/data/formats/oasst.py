"""`oasst`: OpenAssistant message trees (one tree per row, its root under `prompt`).

Into a pairwise project, every pair of differently ranked assistant siblings becomes one item:
the better-ranked reply is response A (the chosen side) and the file's label says so; siblings
without a rank are ignored. Into a binary project, each assistant message with +1/-1 emoji votes
becomes one item whose judgments are its votes (one "up" per +1, one "down" per -1). Deleted
messages are left out; an empty assistant reply is kept (it is what the model said).
"""

from __future__ import annotations

import itertools

from labeling.data import rows as v
from labeling.data.formats import Format, register
from labeling.data.rows import MAX_VOTES, Options, Row, RowError
from labeling.models import Project

HELP = "OpenAssistant message trees: ranked pairs into a pairwise project, emoji votes into a binary one"


def _turn(message: dict, path: str) -> dict:
    role = message.get("role")
    if not isinstance(role, str) or role not in ("prompter", "assistant"):
        raise RowError(f"{path}.role", f"must be prompter or assistant, got {role!r}")
    text = v.text(message.get("text"), f"{path}.text", allow_empty=role == "assistant")
    return {"role": "user" if role == "prompter" else "assistant", "content": text}


def _source(message: dict) -> str:
    name = message.get("model_name")
    return f"model:{name}" if isinstance(name, str) and name else ""


def read(record: dict, opts: Options) -> list[Row]:
    root = v.get(record, "prompt")
    if not isinstance(root, dict):
        raise RowError("prompt", f"expected the tree's root message, got {v.kind_of(root)}")
    rows: list[Row] = []
    root_turn = _turn(root, "prompt")
    if root_turn["role"] != "user":
        raise RowError("prompt.role", "the root of a message tree must be a prompter message")
    votes_left = MAX_VOTES
    stack = [(root, "prompt", [root_turn])]  # depth-first without recursion: a tree may be deep
    while stack:
        message, path, history = stack.pop()
        replies = message.get("replies") or []
        if not isinstance(replies, list):
            raise RowError(f"{path}.replies", f"expected a list of messages, got {v.kind_of(replies)}")
        children = []
        for i, reply in enumerate(replies):
            child_path = f"{path}.replies[{i}]"
            if not isinstance(reply, dict):
                raise RowError(child_path, f"expected a message, got {v.kind_of(reply)}")
            if not reply.get("deleted"):
                children.append((reply, child_path, _turn(reply, child_path)))
        if opts.kind == Project.Kind.PAIRWISE and history[-1]["role"] == "user":
            ranked = []
            for reply, child_path, reply_turn in children:
                rank = reply.get("rank")
                if rank is None:
                    continue
                if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
                    raise RowError(f"{child_path}.rank", f"must be a whole number (0 is best), got {rank!r}")
                ranked.append((rank, reply_turn["content"], _source(reply)))
            for x, y in itertools.combinations(ranked, 2):
                if x[0] != y[0]:
                    better, worse = (x, y) if x[0] < y[0] else (y, x)
                    if better[1] != worse[1]:
                        rows.append(
                            Row(
                                list(history), (better[1], worse[1]), labels=(("", "a"),), sources=(better[2], worse[2])
                            )
                        )
        if opts.kind == Project.Kind.BINARY and history[-1]["role"] == "assistant" and len(history) > 1:
            emojis = message.get("emojis") or {}
            votes = []
            for emoji, choice in (("+1", "up"), ("-1", "down")):
                n = emojis.get(emoji, 0) if isinstance(emojis, dict) else None
                if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                    raise RowError(f"{path}.emojis", f"vote counts must be whole numbers, got {emojis!r}")
                votes_left -= n
                if votes_left < 0:
                    raise RowError(f"{path}.emojis", f"more than {MAX_VOTES:,} votes in one tree")
                votes += [("", choice)] * n
            if votes:
                rows.append(
                    Row(history[:-1], (history[-1]["content"],), labels=tuple(votes), sources=(_source(message),))
                )
        stack.extend(
            (reply, child_path, history + [reply_turn]) for reply, child_path, reply_turn in reversed(children)
        )
    return rows


def sniff(columns: set[str]) -> bool:
    return "prompt" in columns and ("message_tree_id" in columns or "tree_state" in columns)


FORMAT = register(Format("oasst", HELP, read, sniff=sniff))
