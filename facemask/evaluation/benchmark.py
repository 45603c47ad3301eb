"""`facemask benchmark`: milliseconds per frame, classifier batch cost, cold start, memory.

Frames are 640x480, made from real pictures in ../shared with 0, 1, 4 and 8+ faces. The same
run measures the naive way many public projects do it (res10 SSD at 300x300, then Keras
`model.predict` once per face), so the result reads as a ratio.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

import cv2
import numpy as np

from facemask import config
from facemask.errors import FacemaskError
from facemask.evaluation.dataset import load_voc_dir
from facemask.imageio import load_image

FRAME_SIZE = (640, 480)


def letterbox(image: np.ndarray, size=FRAME_SIZE) -> np.ndarray:
    width, height = size
    scale = min(width / image.shape[1], height / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)),
                         interpolation=cv2.INTER_AREA)
    out = np.full((height, width, 3), 40, np.uint8)
    y, x = (height - resized.shape[0]) // 2, (width - resized.shape[1]) // 2
    out[y:y + resized.shape[0], x:x + resized.shape[1]] = resized
    return out


def benchmark_frames() -> dict[str, np.ndarray]:
    """640x480 frames with 0, 1, 4 and 8+ faces, from real pictures."""
    closeups = sorted((config.CLASSIFICATION_DIR / "without_mask").glob("*"))[:40:10]
    closeups += sorted((config.CLASSIFICATION_DIR / "with_mask").glob("*"))[:40:10]
    annotations = load_voc_dir(config.DEV_IMAGES, config.DEV_ANNOTATIONS)
    if len(closeups) < 8 or not any(len(a.xyxy) >= 8 for a in annotations):
        raise FacemaskError(f"the benchmark makes its frames from the pictures in {config.SHARED / 'data'}, "
                            "which are missing there (set FACEMASK_SHARED to the folder that holds data/).")
    faces = [load_image(p) for p in closeups]
    one = letterbox(faces[0])
    four = np.concatenate([np.concatenate([letterbox(f, (320, 240)) for f in faces[i:i + 2]], 1)
                           for i in (0, 4)], 0)
    crowd = max((a for a in annotations if len(a.xyxy) >= 8),
                key=lambda a: float(np.median(a.xyxy[:, 2] - a.xyxy[:, 0])))
    many = letterbox(load_image(crowd.image_path))
    # no faces: a corner of a photo that holds no annotated face, stretched to the frame
    for ann in annotations:
        image = load_image(ann.image_path)
        h, w = image.shape[:2]
        if ann.xyxy.size and ann.xyxy[:, 1].min() > h * 0.45:
            empty = cv2.resize(image[: int(h * 0.4)], FRAME_SIZE)
            break
    else:
        empty = np.full((FRAME_SIZE[1], FRAME_SIZE[0], 3), 128, np.uint8)
    return {"0 faces": empty, "1 face": one, "4 faces": four, "8+ faces": many}


def time_call(fn, repeats: int, warmup: int = 3) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    times.sort()
    return {"median_ms": round(statistics.median(times), 2),
            "p90_ms": round(times[int(0.9 * (len(times) - 1))], 2)}


class NaivePipeline:
    """The tutorial way: SSD at 300x300, threshold 0.5, Keras `predict` once per face."""

    def __init__(self) -> None:
        from facemask.quiet import import_keras
        from facemask.vision.crops import crop_faces
        from facemask.vision.detectors import SSDDetector

        keras = import_keras()

        self.detector = SSDDetector(threshold=0.5, min_side=0)
        self.model = keras.models.load_model(config.KERAS_MODEL, compile=False)
        self.crop = crop_faces

    def detect(self, image: np.ndarray):
        boxes, _ = self.detector.detect(image)
        return [self.model.predict(self.crop(image, box[None]).astype(np.float32), verbose=0)
                for box in boxes]


def run(repeats: int = 50, soak_frames: int = 1000, naive: bool = True, progress=print) -> dict:
    from facemask.vision.classifier import MaskClassifier
    from facemask.vision.pipeline import Pipeline

    frames = benchmark_frames()
    results: dict = {"frame_size": list(FRAME_SIZE), "cpu_cores": os.cpu_count(), "pipelines": {}}
    from facemask.vision.detectors import create_detector

    # live mode per source (config.LIVE_MAX_SIDE), and the stock YuNet's single 320 px pass every live source
    # used before; photo mode with the shipped model's detector and with the stock YuNet
    stock = dict(threshold=config.CANDIDATE_THRESHOLD)
    configs = [("default live (yunet, video frames)", dict(detector="yunet", live="webcam")),
               *((f"live {source} (yunet, {config.LIVE_MAX_SIDE[source]} px)", dict(detector="yunet", live=source))
                 for source in config.LIVE_SOURCES if source != "webcam"),
               ("live before (stock yunet, 320 px)", dict(detector=create_detector(
                   "yunet", **stock, min_side=0, max_side=320), live="webcam")),
               ("default photo (yunet, 2 scales)", dict(detector="yunet")),
               ("photo, stock yunet", dict(detector=create_detector("yunet", **stock))),
               ("ssd live", dict(detector="ssd", live=True)),
               ("haar live", dict(detector="haar", live=True))]
    classifier = MaskClassifier()
    # progress says what is being measured; the figures are printed once, in the table at the end
    for name, kwargs in configs:
        progress(f"measuring {name} ...")
        pipeline = Pipeline(classifier=classifier, **kwargs)
        row = {}
        for label, frame in frames.items():
            row[label] = time_call(lambda p=pipeline, f=frame: p.detect(f), repeats)
            row[label]["faces_found"] = len(pipeline.detect(frame))
        results["pipelines"][name] = row
    if naive:
        progress("measuring the naive way (ssd 300x300 + predict per face) ...")
        pipeline = NaivePipeline()
        row = {}
        for label, frame in frames.items():
            row[label] = time_call(lambda p=pipeline, f=frame: p.detect(f), max(repeats // 2, 5))
            row[label]["faces_found"] = len(pipeline.detect(frame))
        results["pipelines"]["naive (ssd 300x300 + predict per face)"] = row

    # classifier alone, per batch size, per way of serving it
    crops = np.random.default_rng(0).integers(0, 255, (16, config.CROP_SIZE, config.CROP_SIZE, 3), np.uint8)
    results["classifier"] = {}
    serving = {f"tflite on {classifier.backend} (shipped)": classifier.predict}
    if classifier.backend != "opencv":
        serving["tflite via OpenCV DNN"] = MaskClassifier(backend="opencv").predict
    try:
        keras_clf = MaskClassifier(backend="keras")
        serving["keras model(x)"] = keras_clf.predict
        serving["keras model.predict"] = lambda x: keras_clf.model.predict(x.astype(np.float32), verbose=0)
    except Exception as exc:  # noqa: BLE001 - the benchmark reports what it could not measure
        progress(f"keras backend not measured: {exc}")
    for name, fn in serving.items():
        progress(f"measuring the classifier, {name} ...")
        results["classifier"][name] = {f"batch {n}": time_call(lambda n=n, fn=fn: fn(crops[:n]), repeats)
                                       for n in (1, 4, 16)}

    progress("measuring photo mode by size ...")
    results["photo_sizes"] = photo_sizes(max(repeats // 10, 3))
    progress("measuring the cold start ...")
    results["cold_start_s"] = cold_start()
    progress(f"measuring memory over {soak_frames} frames ...")
    results["memory"] = soak(soak_frames)
    default = results["pipelines"]["default live (yunet, video frames)"]["4 faces"]["median_ms"]
    if naive:
        slow = results["pipelines"]["naive (ssd 300x300 + predict per face)"]["4 faces"]["median_ms"]
        results["speedup_4_faces_vs_naive"] = round(slow / default, 1)
    return results


_COLD = """
import numpy as np
from facemask import Pipeline
p = Pipeline(live=True)
p.detect(np.zeros((480, 640, 3), np.uint8))
"""

_SOAK = """
import json, sys
import numpy as np
from facemask import Pipeline
from facemask.evaluation.benchmark import benchmark_frames
frames = list(benchmark_frames().values())
p = Pipeline(live=True)
def status(key):  # VmHWM is this process image's own peak (ru_maxrss would include the parent's)
    for line in open('/proc/self/status'):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
def rss():
    return status('VmRSS')
n = int(sys.argv[1]); out = {}
for i in range(1, n + 1):
    p.detect(frames[i % len(frames)])
    if i in (n // 2, n):
        out[f'rss_mb_at_{i}'] = round(rss(), 1)
out['peak_rss_mb'] = round(status('VmHWM'), 1)
print(json.dumps(out))
"""


_PHOTO = """
import io, json, sys, time
import cv2
from facemask import Pipeline, config, decode_image
from facemask.evaluation.benchmark import status
megapixels, repeats = float(sys.argv[1]), int(sys.argv[2])
image = cv2.imread(str(config.DEV_IMAGES / "maksssksksss260.jpg"))
factor = (megapixels * 1e6 / (image.shape[0] * image.shape[1])) ** 0.5
data = cv2.imencode(".jpg", cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_CUBIC),
                    [cv2.IMWRITE_JPEG_QUALITY, 90])[1].tobytes()
p = Pipeline()
times = []
for _ in range(repeats):
    t0 = time.perf_counter()
    faces = p.detect(decode_image(data))
    times.append(time.perf_counter() - t0)
times.sort()
print(json.dumps({"median_s": round(times[len(times) // 2], 3), "faces_found": len(faces),
                  "peak_rss_mb": round(status("VmHWM"), 1)}))
"""


def status(key: str) -> float:
    """A line of /proc/self/status in MB: VmHWM is this process's own peak RSS."""
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    return float("nan")


def photo_sizes(repeats: int = 5, sizes=(0.3, 2, 12)) -> dict:
    """Photo mode (decode + detect + classify) on one crowd photo enlarged to each size in megapixels,
    each size in a fresh process so that its peak RSS is its own."""
    out = {}
    for megapixels in sizes:
        done = subprocess.run([sys.executable, "-c", _PHOTO, str(megapixels), str(repeats)], capture_output=True,
                              text=True, check=True)
        out[f"{megapixels} MP"] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def cold_start(runs: int = 3) -> float:
    """Wall seconds for a fresh Python process to import facemask, load the models and run one
    frame (interpreter start-up included); the median of a few runs."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", _COLD], capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t0)
    return round(statistics.median(times), 2)


def soak(frames: int) -> dict:
    """RSS of a process that has served `frames` frames, and its growth over the second half."""
    out = subprocess.run([sys.executable, "-c", _SOAK, str(frames)], capture_output=True, text=True, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    half, full = data[f"rss_mb_at_{frames // 2}"], data[f"rss_mb_at_{frames}"]
    data["growth_mb_second_half"] = round(full - half, 1)
    return data


def format_results(results: dict) -> str:
    labels = list(next(iter(results["pipelines"].values())).keys())
    lines = [f"ms per {results['frame_size'][0]}x{results['frame_size'][1]} frame, median / p90 "
             f"({results['cpu_cores']} cores)", f"{'pipeline':<42}" + "".join(f"{lab:>18}" for lab in labels)]
    for name, row in results["pipelines"].items():
        lines.append(f"{name:<42}" + "".join(
            f"{row[lab]['median_ms']:>8.1f} / {row[lab]['p90_ms']:<6.1f}({row[lab]['faces_found']})"
            .rjust(18) for lab in labels))
    lines += ["", "classifier ms per batch (median)"]
    for name, row in results["classifier"].items():
        lines.append(f"  {name:<40}" + "".join(f"{k}: {v['median_ms']:>7.2f}   " for k, v in row.items()))
    if "photo_sizes" in results:
        lines += ["", "photo mode (decode + detect + classify), one crowd photo enlarged:"]
        lines += [f"  {k:>7}: {v['median_s']:.3f} s median, peak RSS {v['peak_rss_mb']:.0f} MB, "
                  f"{v['faces_found']} faces" for k, v in results["photo_sizes"].items()]
    lines += ["", f"cold start (import + load + first frame): {results['cold_start_s']} s",
              f"memory: {results['memory']}"]
    if "speedup_4_faces_vs_naive" in results:
        lines.append(f"default live pipeline vs naive on the 4-face frame: "
                     f"{results['speedup_4_faces_vs_naive']}x faster")
    return "\n".join(lines)


def ray_benchmark(photos: int = 64, worker_counts: tuple[int, ...] = (1, 2), rounds: int = 2, progress=print) -> dict:
    """`facemask benchmark --ray`: photos per second in process against Ray Data with 1 and 2 actors on this
    machine (the same `PhotoDetector` both ways), Ray's start-up cost, its overhead per photo and the job
    size from which Ray is the faster way. Each job is timed photo by photo as results arrive: its rate
    once every actor has answered, and its fixed cost (what the job takes beyond n photos at that rate).
    The ways take turns for `rounds` rounds (a busy machine drifts); each figure is the median."""
    from facemask import distributed
    from facemask.photos import expand_sources

    first_wave = max(worker_counts) * distributed.BATCH_SIZE
    files = expand_sources([str(config.DEV_IMAGES)])[:max(photos, 4 * first_wave)]
    if len(files) < 4 * first_wave:
        raise FacemaskError(f"the Ray benchmark reads the dev photos in {config.DEV_IMAGES}, which are missing "
                            "there (set FACEMASK_SHARED to the folder that holds data/).")
    settings: dict = {}
    t0 = time.perf_counter()
    distributed.connect(None, num_cpus=max(worker_counts))
    ray_init_s = time.perf_counter() - t0
    progress(f"Ray local start (import + ray.init, {max(worker_counts)} CPUs): {ray_init_s:.2f} s")

    def in_process() -> list[float]:
        detector = distributed.PhotoDetector(settings)
        arrivals = []
        for k in range(0, len(files), distributed.BATCH_SIZE):
            detector(_batch(files[k:k + distributed.BATCH_SIZE]))
            arrivals += [time.perf_counter()] * len(files[k:k + distributed.BATCH_SIZE])
        return arrivals

    def on_ray(workers: int) -> list[float]:
        return [time.perf_counter() for _ in distributed.photo_results(files, settings, workers)]

    ways = {"in process": (in_process, 1)}
    ways.update({f"Ray, {w} worker{'s' if w > 1 else ''}": (lambda w=w: on_ray(w), w) for w in worker_counts})
    timed: dict[str, list[tuple[float, float]]] = {name: [] for name in ways}  # (fixed s, s per photo)
    for _ in range(rounds):
        for name, (job, workers) in ways.items():
            t0 = time.perf_counter()
            arrivals = job()
            assert len(arrivals) == len(files)
            wave = workers * distributed.BATCH_SIZE  # the rate counts from when every actor has answered
            per_photo = (arrivals[-1] - arrivals[wave - 1]) / (len(files) - wave)
            fixed = (arrivals[-1] - t0) - len(files) * per_photo
            timed[name].append((fixed, per_photo))
            progress(f"{name}: fixed {fixed:.2f} s, {per_photo * 1000:.0f} ms/photo")
    results = {"photos": len(files), "rounds": rounds, "cpu_cores": os.cpu_count(),
               "load_average": round(os.getloadavg()[0], 1), "batch_size": distributed.BATCH_SIZE,
               "ray_init_s": round(ray_init_s, 2), "ways": {}}
    base_fixed = statistics.median(f for f, _ in timed["in process"])
    base = statistics.median(p for _, p in timed["in process"])
    for name, runs in timed.items():
        fixed, per_photo = statistics.median(f for f, _ in runs), statistics.median(p for _, p in runs)
        workers = ways[name][1]
        row = {"fixed_s": round(fixed + (ray_init_s if name.startswith("Ray") else 0), 2),
               "ms_per_photo": round(per_photo * 1000, 1),
               "ms_per_photo_range": [round(min(p for _, p in runs) * 1000), round(max(p for _, p in runs) * 1000)],
               "photos_per_s": round(1 / per_photo, 2)}
        if name.startswith("Ray"):
            # CPU-time a photo costs on Ray beyond the in-process time: per-photo wall time x workers - in process
            row["overhead_ms_per_photo"] = round((per_photo * workers - base) * 1000, 1)
            gain = base - per_photo  # in process: fixed + n x base; on Ray: init + job start + n x per_photo
            row["pays_off_from_photos"] = int(np.ceil((row["fixed_s"] - base_fixed) / gain)) if gain > 0 else None
        results["ways"][name] = row
    return results


def _batch(files: list[str]) -> dict:
    from facemask.distributed import read_photo

    rows = [read_photo({"path": name}) for name in files]
    return {key: [row[key] for row in rows] for key in ("path", "image", "error")}


def format_ray_results(results: dict) -> str:
    lines = [f"{results['photos']} dev photos (photo mode), {results['cpu_cores']} cores (load average "
             f"{results['load_average']} at the end), {results['batch_size']} photos per actor call, median of "
             f"{results['rounds']} rounds",
             f"{'':<16}{'photos/s':>9}{'ms/photo':>10}{'(range)':>12}{'fixed s':>9}{'overhead ms/photo':>19}"
             f"{'pays off from':>15}"]
    for name, row in results["ways"].items():
        low, high = row["ms_per_photo_range"]
        pays = "-" if "pays_off_from_photos" not in row else (
            f"{row['pays_off_from_photos']} photos" if row["pays_off_from_photos"] else "never here")
        overhead = f"{row['overhead_ms_per_photo']:.1f}" if "overhead_ms_per_photo" in row else "-"
        lines.append(f"{name:<16}{row['photos_per_s']:>9.2f}{row['ms_per_photo']:>10.1f}{f'{low}-{high}':>12}"
                     f"{row['fixed_s']:>9.2f}{overhead:>19}{pays:>15}")
    lines += ["", "fixed s: what a job takes beyond its photos at its rate: in process, loading the models; on Ray, "
              f"its local start ({results['ray_init_s']} s, once per run) plus the job's start (actors, models, "
              "planning).",
              "overhead ms/photo: Ray's per-photo time x workers - the in-process per-photo time (the CPU a photo "
              "costs on Ray beyond the work itself).",
              "pays off from: the job size above which the Ray run ends sooner than the in-process one."]
    return "\n".join(lines)


def camera_capacity(max_cameras: int = 8, fps: float = 5.0, seconds: float = 20.0, warmup_s: float = 5.0,
                    progress=print) -> dict:
    """`facemask benchmark --cameras N`: how many 640x480 cameras sending `fps` frames a second this machine
    keeps up with, every frame analysed and annotated. 1, 2, ... N cameras at once, each an H.264 video of
    the benchmark frames (0, 1, 4, 8+ faces) read at its own rate by its own reader thread, through the
    watcher's loop (one live Pipeline, detect_many across cameras, a tracker per camera, events and counts
    into a SQLite store), each analysed frame drawn with `annotate`. A count is sustained when every camera
    had >= 95% of its frames analysed over `seconds`; the ramp stops at the first count that is not."""
    import tempfile
    import threading
    from pathlib import Path

    import av

    from facemask.annotate import annotate
    from facemask.cameras.store import Store
    from facemask.cameras.watch import CameraWatcher, RecordWriter, Watcher
    from facemask.vision.pipeline import Pipeline

    frames = list(benchmark_frames().values())
    pipeline = Pipeline(live="watch")
    results = {"frame_size": list(FRAME_SIZE), "fps": fps, "seconds": seconds, "cpu_cores": os.cpu_count(),
               "load_average_before": round(os.getloadavg()[0], 1), "runs": {}}
    with tempfile.TemporaryDirectory() as folder:
        clip = Path(folder) / "camera.mp4"
        with av.open(str(clip), "w", format="mp4") as container:  # 2 s of each frame, as long as one run
            stream = container.add_stream("libx264", rate=round(fps))
            stream.width, stream.height, stream.pix_fmt = FRAME_SIZE[0], FRAME_SIZE[1], "yuv420p"
            stream.options = {"x264-params": f"keyint={round(fps)}:bframes=0"}
            for k in range(round((warmup_s + seconds + 5) * fps)):
                image = frames[(k // round(2 * fps)) % len(frames)]
                container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
            container.mux(stream.encode(None))
        sustained = 0
        for count in range(1, max_cameras + 1):
            store = Store(f"sqlite:///{Path(folder) / f'run{count}.db'}")
            writer = RecordWriter(store, say=lambda message: None, retention_days=None)
            # sampled a little faster than the cameras send, so every new frame is taken as it comes
            cameras = [CameraWatcher(str(clip), f"camera{k + 1}", fps=fps * 1.5) for k in range(count)]
            watcher = Watcher(cameras, pipeline, writer.put, say=lambda message: None, status_every_s=3600,
                              on_frame=lambda camera, frame, found: annotate(frame.image, found))
            stop = threading.Event()
            thread = threading.Thread(target=watcher.run, kwargs={"stop": stop}, daemon=True)
            thread.start()
            time.sleep(warmup_s)
            start = ([c.processed for c in cameras], [c.status().frames for c in cameras], time.perf_counter())
            time.sleep(seconds)
            end = ([c.processed for c in cameras], [c.status().frames for c in cameras], time.perf_counter())
            stop.set()
            thread.join(30)
            writer.close()
            store.close()
            elapsed = end[2] - start[2]
            analysed = [(b - a) / elapsed for a, b in zip(start[0], end[0])]
            sent = [(b - a) / elapsed for a, b in zip(start[1], end[1])]
            share = min(a / s if s else 0.0 for a, s in zip(analysed, sent))
            ok = share >= 0.95 and min(sent) >= 0.95 * fps
            results["runs"][count] = {"analysed_fps_min": round(min(analysed), 2),
                                      "analysed_fps_mean": round(statistics.mean(analysed), 2),
                                      "received_fps_min": round(min(sent), 2), "analysed_share_min": round(share, 3),
                                      "sustained": ok, "load_average": round(os.getloadavg()[0], 1)}
            progress(f"{count} camera{'s' if count > 1 else ''}: analysed {min(analysed):.2f}-{max(analysed):.2f} "
                     f"fps each of {min(sent):.2f}+ received ({share:.0%} of frames) -> "
                     f"{'sustained' if ok else 'NOT sustained'}")
            if not ok:
                break
            sustained = count
    results["sustained_cameras"] = sustained
    return results


def format_camera_capacity(results: dict) -> str:
    width, height = results["frame_size"]
    lines = [f"cameras of {width}x{height} at {results['fps']:g} fps, every frame analysed and annotated "
             f"({results['cpu_cores']} cores, load average {results['load_average_before']} before):"]
    for count, run in results["runs"].items():
        lines.append(f"  {count:>2} camera(s): {run['analysed_fps_min']:.2f} fps analysed per camera at worst, "
                     f"{run['analysed_share_min']:.0%} of frames, load {run['load_average']}"
                     f" -> {'sustained' if run['sustained'] else 'not sustained'}")
    lines.append(f"sustained: {results['sustained_cameras']} camera(s)")
    return "\n".join(lines)
