"""From an image to labelled faces: reading images, detection, crops, the recognizer, calibration, uncertainty, drawing."""
