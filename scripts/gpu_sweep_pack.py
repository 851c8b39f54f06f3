"""What scripts/gpu_sweep.py does here, before and after a device call: pack the train
split and the Keras wheels into ``.gpu_sweep/``, measure what would travel against the
device's 64 MiB, and take the large model files out of the call and back."""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from gpu_sweep_rule import (
    CLASS_NAMES,
    DATA_TAR,
    MANIFEST,
    PACK_DIR,
    ROOT,
    SweepError,
    sha256_file,
    write_json,
)

#: Keras' own needs that the device's image lacks (its KINDS.md lists what it has).
EXTRA_WHEELS = ("namex==0.1.0", "optree==0.20.0", "typing_extensions==4.16.0")
WHEEL_PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64",
                   "manylinux2014_x86_64", "manylinux1_x86_64")
#: What may travel to the device in one call: tracked and untracked files plus the carry.
TRAVEL_LIMIT_BYTES = 64 * 2**20
#: Tracked files under models/ at least this big are left out of the call.
HIDE_MIN_BYTES = 2**20
EXCLUDE_FILE = ROOT / ".git" / "info" / "exclude"
EXCLUDE_MARK = "# gpu_sweep: hidden for one device call; scripts/gpu_sweep.sh show-models undoes"


def pixel_checksum(train_dir: Path) -> str:
    """sha256 of every image decoded as the package decodes it (OpenCV, grayscale), in
    sorted class and file order: equal here and there means the same training pixels."""
    from concurrent.futures import ThreadPoolExecutor

    import cv2
    import numpy as np

    files = [p for c in CLASS_NAMES for p in sorted((train_dir / c).glob("*.jpg"))]

    def decode(path: Path) -> bytes:
        return cv2.imdecode(np.fromfile(path, np.uint8), cv2.IMREAD_GRAYSCALE).tobytes()

    digest = hashlib.sha256()
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for pixels in pool.map(decode, files, chunksize=256):
            digest.update(pixels)
    return digest.hexdigest()


def find_train_split() -> Path:
    """``$FER2013_DIR`` or ../shared/data/fer2013 (as CI uses), holding train/<class>/."""
    root = Path(os.environ.get("FER2013_DIR") or ROOT.parent / "shared" / "data" / "fer2013")
    if not all((root / "train" / c).is_dir() for c in CLASS_NAMES):
        raise SweepError(f"{root}: no train/<class>/ folders (set FER2013_DIR)")
    return root


def pack_data(root: Path) -> dict:
    """Write the train split as a reproducible tar.xz (the JPEG bytes as they are: JPEG data
    does not compress, but xz shares their identical headers) and its manifest."""
    target = PACK_DIR / DATA_TAR
    counts = {c: len(list((root / "train" / c).glob("*.jpg"))) for c in CLASS_NAMES}
    manifest_path = PACK_DIR / MANIFEST
    if target.is_file() and manifest_path.is_file():
        old = json.loads(manifest_path.read_text(encoding="utf-8"))
        if old.get("counts") == counts and old.get("archive_sha256") == sha256_file(target):
            print(f"{target.relative_to(ROOT)} is up to date")
            return old
    print(f"packing {root / 'train'} into {target.relative_to(ROOT)} (xz -9e, about a minute)")
    tar = ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0",
           "-C", str(root), "-cf", "-", "train"]
    with open(f"{target}.tmp", "wb") as packed:
        tar_process = subprocess.Popen(tar, stdout=subprocess.PIPE)
        subprocess.run(["xz", "-9e", "-T1"], stdin=tar_process.stdout, stdout=packed, check=True)
        if tar_process.wait() != 0:
            raise SweepError(f"tar failed on {root / 'train'}")
    os.replace(f"{target}.tmp", target)
    import cv2

    manifest = {"archive": DATA_TAR, "archive_sha256": sha256_file(target),
                "archive_bytes": target.stat().st_size, "counts": counts,
                "pixel_sha256": pixel_checksum(root / "train"),
                "decoder": f"opencv {cv2.__version__}", "source": str(root)}
    write_json(manifest_path, manifest)
    return manifest


def keras_requirement() -> str:
    """The pinned Keras of requirements.txt (the device's image has no Keras)."""
    for line in (ROOT / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith("keras=="):
            return line.strip()
    raise SweepError("requirements.txt pins no keras==")


def pack_wheels() -> None:
    """Download Keras and its needs missing on the device as Python 3.12 x86-64 wheels."""
    wheels = PACK_DIR / "wheels"
    wanted = (keras_requirement(), *EXTRA_WHEELS)
    have = {p.name.split("-")[0].lower() for p in wheels.glob("*.whl")}
    missing = [w for w in wanted if w.split("==")[0].lower() not in have]
    if not missing:
        print(f"{wheels.relative_to(ROOT)} is up to date")
        return
    platforms = [arg for p in WHEEL_PLATFORMS for arg in ("--platform", p)]
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--only-binary=:all:", "--python-version", "3.12", "--implementation", "cp",
                    *platforms, "-d", str(wheels), *missing], check=True)


def tree_files() -> list[Path]:
    """The files that travel with a call: tracked and untracked files git does not ignore."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others",
                             "--exclude-standard"], cwd=ROOT, capture_output=True, check=True)
    paths = {ROOT / p for p in listed.stdout.decode().split("\0") if p}
    return sorted(p for p in paths if p.is_file() and not p.is_symlink())


def folder_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def large_model_files() -> list[str]:
    """Tracked files under models/ of at least HIDE_MIN_BYTES (the shipped model's files)."""
    listed = subprocess.run(["git", "ls-files", "-z", "--", "models"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    return [p for p in listed if p and (ROOT / p).is_file()
            and (ROOT / p).stat().st_size >= HIDE_MIN_BYTES]


def hidden_files() -> list[str]:
    """The files that hide-models listed in .git/info/exclude."""
    if not EXCLUDE_FILE.is_file():
        return []
    lines = EXCLUDE_FILE.read_text(encoding="utf-8").splitlines()
    if EXCLUDE_MARK not in lines:
        return []
    start = lines.index(EXCLUDE_MARK) + 1
    block = []
    for line in lines[start:]:
        if not line.startswith("/"):
            break
        block.append(line[1:])
    return block


def size_report() -> int:
    """Print what would travel (tree plus carry) against the 64 MiB; 1 if over."""
    tree = sum(p.stat().st_size for p in tree_files())
    carry = folder_bytes(PACK_DIR) if PACK_DIR.is_dir() else 0
    models = sum((ROOT / p).stat().st_size for p in large_model_files() if p not in hidden_files())
    mib = 2**20
    print(f"tree {tree / mib:.1f} MiB (of which large model files {models / mib:.1f} MiB), "
          f"carry {PACK_DIR.name} {carry / mib:.1f} MiB: {(tree + carry) / mib:.1f} MiB of "
          f"{TRAVEL_LIMIT_BYTES / mib:.0f}")
    if tree + carry <= TRAVEL_LIMIT_BYTES:
        print("fits" + (" (models hidden)" if hidden_files() else ""))
        return 0
    left = tree + carry - models
    print(f"over; with the large model files hidden (scripts/gpu_sweep.sh hide-models) it "
          f"would be {left / mib:.1f} MiB")
    return 1


def hide_models() -> int:
    """Untrack the large model files in the index and ignore them, so no call carries them."""
    if hidden_files():
        print("already hidden: " + ", ".join(hidden_files()))
        return 0
    staged = subprocess.run(["git", "diff", "--cached", "--quiet", "--", "models"], cwd=ROOT)
    if staged.returncode:
        raise SweepError("models/ has staged changes: commit or unstage them first")
    files = large_model_files()
    subprocess.run(["git", "rm", "-q", "--cached", "--", *files], cwd=ROOT, check=True)
    with EXCLUDE_FILE.open("a", encoding="utf-8") as exclude:
        exclude.write("\n".join([EXCLUDE_MARK, *(f"/{p}" for p in files)]) + "\n")
    print("hidden until show-models (commit nothing meanwhile): " + ", ".join(files))
    return 0


def show_models() -> int:
    """Undo hide-models: the files tracked again as in HEAD, the exclude lines removed."""
    files = hidden_files()
    if not files:
        print("nothing hidden")
        return 0
    subprocess.run(["git", "reset", "-q", "--", *files], cwd=ROOT, check=True)
    lines = EXCLUDE_FILE.read_text(encoding="utf-8").splitlines()
    start = lines.index(EXCLUDE_MARK)
    kept = lines[:start] + lines[start + 1 + len(files):]
    EXCLUDE_FILE.write_text("\n".join(kept) + ("\n" if kept else ""), encoding="utf-8")
    print("tracked again: " + ", ".join(files))
    return 0


def pack(_: argparse.Namespace) -> int:
    """Everything the call carries, then the size check."""
    PACK_DIR.mkdir(exist_ok=True)
    manifest = pack_data(find_train_split())
    pack_wheels()
    print(f"train split: {sum(manifest['counts'].values())} images, "
          f"{manifest['archive_bytes'] / 2**20:.1f} MiB")
    return size_report()
