"""Cameras: a live source (RTSP, HTTP, a video file, the browser webcam) to a record.
Takes frames and the `Pipeline`'s `Detections`; tracks each face over frames, turns a track into one event,
counts faces per minute and writes them, with each camera's status, to the store and the alerts."""
