"""Videos, cameras and streams: reading, tracking, optical flow, smoothing, the frame pipeline, the timeline."""
