"""The result runs' building blocks: the final network from a checkpoint, commands shown as a shell would read."""

import sys

import pytest
import torch
from results.bundle_runs import final_network, run_logged, shown


def test_final_network_takes_the_newest_checkpoint(tmp_path):
    for epoch in (1, 2):
        torch.save(
            {"network": {"w": torch.full((2,), float(epoch))}, "trainer": {"epoch": epoch}},
            tmp_path / f"checkpoint_epoch_{epoch:04d}.pt",
        )
    path, epoch = final_network(tmp_path, tmp_path / "final" / "model.pt")
    assert epoch == 2 and torch.equal(torch.load(path, weights_only=True)["w"], torch.full((2,), 2.0))


def test_final_network_without_checkpoints_names_the_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        final_network(tmp_path, tmp_path / "model.pt")


def test_shown_commands_can_be_pasted_into_a_shell():
    text = shown(
        [
            sys.executable,
            "-m",
            "monai.bundle",
            "run",
            "--config_file",
            "['a.yaml','b.yaml']",
            "--class_weights",
            "$None",
        ]
    )
    assert text == "python -m monai.bundle run --config_file \"['a.yaml','b.yaml']\" --class_weights '$None'"


def test_a_failing_command_raises_with_its_log(tmp_path):
    with pytest.raises(RuntimeError, match="exit status 3"):
        run_logged([sys.executable, "-c", "print('boom'); raise SystemExit(3)"], tmp_path / "log.txt", tmp_path)
    assert "boom" in (tmp_path / "log.txt").read_text()


def test_logged_training_seconds_reads_the_trainers_last_time_taken(tmp_path):
    from results.bundle_runs import logged_training_seconds

    log = tmp_path / "train.log"
    assert logged_training_seconds(log) is None
    log.write_text(
        "x - ignite.engine.engine.SupervisedEvaluator - INFO - Engine run finished. Time taken: 00:00:09.1\n"
        "x - ignite.engine.engine.SupervisedTrainer - INFO - Engine run finished. Time taken: 01:02:03.5\n"
    )
    assert logged_training_seconds(log) == 3723.5


def test_clear_run_removes_an_earlier_runs_checkpoints_only(tmp_path):
    from results.bundle_runs import clear_run

    (tmp_path / "models").mkdir()
    torch.save({"network": {}}, tmp_path / "models" / "checkpoint_epoch_0040.pt")
    (tmp_path / "train.log").write_text("kept: overwritten by the next run itself")
    clear_run(tmp_path)
    assert not (tmp_path / "models").exists() and (tmp_path / "train.log").is_file()
