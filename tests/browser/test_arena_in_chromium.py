"""The arena in Chromium with a real worker on the tiny models: both answers stream in side by side,
a key votes, the names show, and the vote is stored as a judgment with its left/right position."""

import os
import shutil
from pathlib import Path

import pytest

from labeling.models import Judgment, Membership
from tests.browser.conftest import log_in
from tests.training.conftest import start_worker, tiny_dirs  # noqa: F401  (fixtures)
from training.models import Generation, ModelVersion

pytestmark = [pytest.mark.browser, pytest.mark.ml, pytest.mark.django_db(transaction=True)]

SHOTS = Path(os.environ.get("SCREENSHOT_DIR", "/tmp"))
# Counts the text nodes the page inserts into each side, to see that an answer arrives in pieces.
COUNT_PIECES = """() => {
  window.__pieces = {left: 0, right: 0};
  new MutationObserver((records) => {
    for (const r of records) {
      const side = r.target.closest && r.target.closest('.arena-side');
      if (side) for (const n of r.addedNodes) if (n.nodeType === 3) window.__pieces[side.dataset.side] += 1;
    }
  }).observe(document.getElementById('battle'), {childList: true, subtree: true});
}"""


def test_two_anonymous_models_stream_side_by_side_and_a_key_votes_then_names_show(
    page,
    live_server,
    make_user,
    make_project,
    tiny_dirs,  # noqa: F811
    start_worker,  # noqa: F811
    tmp_path,
):
    member = make_user(username="arena-member")
    project = make_project(n_items=0, members={member: Membership.Role.ANNOTATOR})
    second = tmp_path / "tiny-policy-copy"
    shutil.copytree(tiny_dirs["tiny-policy"], second)
    ModelVersion.objects.create(project=project, name="policy-alpha", base=tiny_dirs["tiny-policy"])
    ModelVersion.objects.create(project=project, name="policy-beta", base=str(second))
    worker = start_worker(consume=("training",))

    page.set_default_timeout(120_000)  # the worker imports torch and loads both models on its first battle
    log_in(page, live_server, "arena-member")
    page.click("text=Arena")
    page.click("text=Enter the arena")
    page.wait_for_selector("#battle", state="attached")  # the arena page has loaded
    page.evaluate(COUNT_PIECES)
    page.screenshot(path=str(SHOTS / "arena-empty.png"), full_page=True)

    page.fill("#arena-text", "the quick brown fox")
    page.press("#arena-text", "Control+Enter")
    page.wait_for_selector("[data-testid=battle][data-state=ready]")
    left = page.text_content("[data-testid=text-left]")
    right = page.text_content("[data-testid=text-right]")
    assert left and right, worker.output()
    pieces = page.evaluate("window.__pieces")
    assert pieces["left"] > 1 and pieces["right"] > 1  # token by token, not one block
    assert "policy-alpha" not in page.content() and "policy-beta" not in page.content()  # anonymous
    page.screenshot(path=str(SHOTS / "arena-before-vote.png"), full_page=True)

    page.keyboard.press("1")  # left is better
    page.wait_for_selector("[data-testid=voted]")
    names = {side: page.text_content(f"[data-testid=name-{side}]") for side in ("left", "right")}
    assert set(names.values()) == {"policy-alpha", "policy-beta"}
    assert "Left is better" in page.text_content("[data-testid=voted]")
    page.screenshot(path=str(SHOTS / "arena-after-vote.png"), full_page=True)

    judgment = Judgment.objects.select_related("item").get(annotator=member)
    item = judgment.item
    assert item.in_queue is False and judgment.left in ("a", "b")
    assert judgment.choice == judgment.left  # "left is better": the response shown on the left won
    winner = item.response_a if judgment.choice == "a" else item.response_b
    assert winner.text == left
    assert Generation.objects.get(response=winner).model_version.name == names["left"]
