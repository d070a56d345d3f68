"""DICOM-SEG output: the labels voxel for voxel, the source's frame of reference, named and coded segments."""

from __future__ import annotations

import highdicom
import numpy as np
import pydicom
import pytest
from monai_unet_bundle.dicom import find_series
from monai_unet_bundle.dicom.seg_writer import write_dicom_seg

CLASSES = ["background", "soft tissue", "bone"]


def _labels(shape):
    labels = np.zeros(shape, dtype=np.uint8)
    labels[2:8, 5:10, 3:12] = 1
    labels[6:11, 12:18, 10:20] = 2
    return labels


def test_seg_reads_back_with_the_same_labels_frame_of_reference_and_names(ct_series, tmp_path):
    folder, _ = ct_series
    (series,) = find_series(folder)
    labels = _labels((12, 20, 24))
    path = write_dicom_seg(labels, series.files, CLASSES, tmp_path / "out" / "ct_seg.dcm")
    seg = highdicom.seg.segread(str(path))
    sources = [pydicom.dcmread(str(f)) for f in series.files]
    assert seg.FrameOfReferenceUID == sources[0].FrameOfReferenceUID
    assert seg.StudyInstanceUID == sources[0].StudyInstanceUID
    assert [d.SegmentLabel for d in seg.SegmentSequence] == ["soft tissue", "bone"]
    assert seg.SegmentSequence[1].SegmentedPropertyTypeCodeSequence[0].CodeValue == "272673000"  # SCT bone
    uids = [str(s.SOPInstanceUID) for s in sources]
    assert np.array_equal(seg.get_pixels_by_source_instance(uids, combine_segments=True), labels)
    assert sorted(p.name for p in path.parent.iterdir()) == ["ct_seg.dcm"], "no temporary file left"


def test_labels_that_do_not_fit_the_series_or_the_classes_are_refused(ct_series, tmp_path):
    folder, _ = ct_series
    (series,) = find_series(folder)
    with pytest.raises(ValueError, match="do not match 12 source slices"):
        write_dicom_seg(_labels((11, 20, 24)), series.files, CLASSES, tmp_path / "a.dcm")
    with pytest.raises(ValueError, match=r"labels outside 0..2"):
        write_dicom_seg(_labels((12, 20, 24)) * 2, series.files, CLASSES, tmp_path / "b.dcm")
    assert not list(tmp_path.glob("*.dcm"))
