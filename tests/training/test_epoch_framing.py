"""The framing step of a training epoch: MTCNN's real crops of real FER2013 faces."""

from __future__ import annotations

import numpy as np

from emotion_classification.data.fer2013 import list_image_files, read_face
from emotion_classification.evaluation import photo_pipeline
from emotion_classification.inference.detection import DEFAULT_MARGINS, model_crops
from emotion_classification.training.epoch_framing import detection_crops


def test_detection_crops_are_predicts_crops_of_the_faces_mtcnn_found(fer2013_dir, tmp_path,
                                                                     monkeypatch):
    monkeypatch.setattr(photo_pipeline, "DETECTION_CACHE_DIR", str(tmp_path))
    files = list_image_files(fer2013_dir / "train")[0][::2000][:10]
    images = np.stack([read_face(path)[0] for path in files])[..., None]
    crops, found = detection_crops(images)
    assert crops.shape == (len(DEFAULT_MARGINS), len(images), 48, 48)
    assert found.sum() >= len(images) // 2  # MTCNN finds most planted FER2013 faces
    assert not crops[:, ~found].any()  # a missed face has no crop
    faces = photo_pipeline.cached_detections("train", images)  # from the cache
    for margin_index, margin in enumerate(DEFAULT_MARGINS):
        for index in np.flatnonzero(found):  # predict's crop of the face in its photo
            photo, _ = photo_pipeline.embed_in_photo(images[index])
            expected = model_crops(photo, [faces[index]], margin)[0, ..., 0]
            np.testing.assert_array_equal(crops[margin_index, index], expected)
    assert len(list(tmp_path.glob("train-*.npz"))) == 1  # detected once, cached
