"""TEST DOUBLE for torchvision's CIFAR download: writes a small fake CIFAR-10/100 instead of fetching one.

The download tests put this folder first on ``PYTHONPATH``; Python imports it
at start-up in every process. It acts only in the workflow's data steps
(``download_data.py``, ``prepare_data.py``): there it replaces
``CIFAR10.download`` / ``CIFAR100.download`` by one that writes a few random
images in torchvision's on-disk layout into the root and appends a line
``<class> <root>`` to the file named by ``ANALOG_TL_DOWNLOAD_LOG``, and the MD5
checks (which fake files cannot pass) by "the fake download is complete".
Everything else (the readers, the class lists) is torchvision's own code.
Never used outside the tests.
"""

from __future__ import annotations

import os
import pickle
import sys
from pathlib import Path

CIFAR10_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
CIFAR100_NAMES = ["apple", "aquarium_fish", "baby", "bear", "beaver"] + [f"class_{i:02d}" for i in range(5, 100)]
TRAIN_PER_CLASS, TEST_PER_CLASS = 20, 5
MARKER = ".fake-download-complete"


def _write_fake(dataset, names: list[str], label_key: str, meta_key: str) -> None:
    import numpy as np

    folder = Path(dataset.root) / dataset.base_folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(names))
    for files, per_class in ((dataset.train_list, TRAIN_PER_CLASS), (dataset.test_list, TEST_PER_CLASS)):
        for filename, _ in files:
            labels = [c for c in range(len(names)) for _ in range(per_class // len(files) or 1)]
            entry = {"data": rng.integers(0, 256, (len(labels), 3072), dtype=np.uint8), label_key: labels}
            with open(folder / filename, "wb") as handle:
                pickle.dump(entry, handle)
    with open(folder / dataset.meta["filename"], "wb") as handle:
        pickle.dump({meta_key: names}, handle)
    (folder / MARKER).write_text("ok\n")
    with open(os.environ["ANALOG_TL_DOWNLOAD_LOG"], "a") as log:
        log.write(f"{type(dataset).__name__} {Path(dataset.root).resolve()}\n")


def _patch(cifar) -> None:  # noqa: ANN001 - the module torchvision.datasets.cifar
    def complete(self) -> bool:
        return (Path(self.root) / self.base_folder / MARKER).is_file()

    def download(self) -> None:
        if complete(self):
            return
        if isinstance(self, cifar.CIFAR100):
            _write_fake(self, CIFAR100_NAMES, "fine_labels", "fine_label_names")
        else:
            _write_fake(self, CIFAR10_NAMES, "labels", "label_names")

    cifar.CIFAR10._check_integrity = complete
    cifar.CIFAR10.download = download  # CIFAR100 subclasses CIFAR10
    cifar.check_integrity = lambda *args, **kwargs: True


if os.environ.get("ANALOG_TL_DOWNLOAD_LOG") and any(
    name in (sys.argv[0] if sys.argv else "") for name in ("download_data", "prepare_data")
):
    # Patched when the step imports it: importing torchvision here would load numpy before the CPU pin.
    sys.path.append(str(Path(__file__).resolve().parents[1]))  # tests/doubles
    from patch_on_import import patch_on_import

    patch_on_import("torchvision.datasets.cifar", _patch)
