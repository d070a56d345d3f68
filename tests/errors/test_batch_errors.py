"""Batch inference faults (issue 9, part 4): a SIGKILL in the middle of writing an output.

Covered elsewhere (docs/errors.md lists them): one bad file among good ones -> good outputs written, the bad one in
the summary with its reason, exit status 1
(tests/prediction/test_predict.py::test_a_bad_file_amid_good_ones_is_reported_and_the_rest_is_done); an injected
write failure leaves no output (tests/prediction/test_output.py::test_a_failure_mid_write_leaves_nothing,
::test_predict_reports_the_failed_write_and_keeps_the_earlier_output).
"""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest
from monai_unet_bundle.data.datalist import image_files
from monai_unet_bundle.prediction import BatchReport, PredictionDataset, SavePredictiond
from tests.conftest import REPO

#: the writer of configs/inference.yaml (SavePredictiond, NIfTI) on a 256^3 random label map (~17 MB to gzip)
_WRITER_SOURCE = """
    import sys, numpy, torch
    from monai.data import MetaTensor
    from monai_unet_bundle.prediction import SavePredictiond
    labels = torch.from_numpy(numpy.random.default_rng(0).integers(0, 4, (1, 256, 256, 256), dtype=numpy.uint8))
    save = SavePredictiond(keys="pred", output_dir=sys.argv[1], num_classes=4)
    while True:
        save({"pred": MetaTensor(labels, affine=torch.eye(4), meta={"filename_or_obj": sys.argv[2]})})
"""
_WRITER = textwrap.dedent(_WRITER_SOURCE)


@pytest.mark.slow
def test_sigkill_mid_write_leaves_no_partial_output(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", _WRITER, str(out), str(tmp_path / "case.nii.gz")], cwd=REPO)
    deadline = time.monotonic() + 120

    def started() -> bool:  # the first temporary file has bytes: the gzip stream is being written
        for path in out.glob(".case_seg.nii.gz.*.part.nii.gz"):
            try:
                if path.stat().st_size > 0:
                    return True
            except FileNotFoundError:  # renamed in between: the assertions below report it
                return True
        return False

    while not started():
        assert process.poll() is None and time.monotonic() < deadline, "the writer ended or never wrote"
        time.sleep(0.002)
    process.send_signal(signal.SIGKILL)
    process.wait()
    partial = list(out.glob(".case_seg.nii.gz.*.part.nii.gz"))
    final = out / "case_seg.nii.gz"
    assert partial, "killed while writing"
    assert not final.exists(), "nothing under the output name (the first write was killed)"
    # no image listing sees the partial file, and a rerun does not skip the case
    assert image_files(out) == []
    report = BatchReport()
    pending = PredictionDataset([{"image": str(tmp_path / "case.nii.gz")}], None, output_dir=out, report=report)
    assert len(pending.data) == 1 and report.skipped == []
    SavePredictiond(keys="pred", output_dir=out)  # the next run's writer: removes only abandoned temporaries
    assert list(out.glob(".case_seg.nii.gz.*.part.nii.gz")) == partial, "kept while it may still be written"
    # once it has not changed for a minute, the next run in the folder deletes it
    old = time.time() - 120
    os.utime(partial[0], (old, old))
    SavePredictiond(keys="pred", output_dir=out)
    assert list(out.iterdir()) == []


def test_a_case_failing_after_its_write_counts_as_failed_only():
    """The QC report of a written case fails: the case leaves the done list, and the failure is listed."""
    stream = io.StringIO()
    report = BatchReport(stream=stream)
    report.add_done("a")
    report.add_done("b")
    report.add_failed("b", OSError("No space left on device"))
    assert report.has_failed("b") and not report.has_failed("a")
    with pytest.raises(SystemExit):
        report.finish()
    assert stream.getvalue().splitlines()[0].endswith("1 done, 0 skipped (output exists), 1 failed")
