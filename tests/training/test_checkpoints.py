from workers.training import latest_checkpoint


def test_resume_picks_the_newest_complete_checkpoint(tmp_path):
    assert latest_checkpoint(tmp_path) is None
    for step, complete in [(5, True), (10, True), (15, False)]:  # 15: the worker died while saving it
        (tmp_path / f"checkpoint-{step}").mkdir()
        if complete:
            (tmp_path / f"checkpoint-{step}" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-9").mkdir()
    (tmp_path / "checkpoint-9" / "trainer_state.json").write_text("{}")
    assert latest_checkpoint(tmp_path).name == "checkpoint-10"  # numeric order, not text order
