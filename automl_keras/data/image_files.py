"""Images read from files: a folder per class for training, any folder to predict.

Pixels are decoded and resized by Pillow (`PIL.Image`), the library Keras'
own image utilities use.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np

from automl_keras.errors import DataError

#: File endings read as images (the formats Keras' image utilities read).
IMAGE_EXTENSIONS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")
_GREY_MODES = ("1", "L", "I", "I;16", "F")
_LAYOUT_HINT = (
    "Lay the images out one folder per class, e.g. DATA/cat/001.png, DATA/dog/002.png."
)


def _pillow():
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "Reading image files needs Pillow: `pip install pillow`."
        ) from None
    return Image


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_EXTENSIONS) and not name.startswith(".")


def _visible(folder: str) -> list:
    return sorted(e for e in os.listdir(folder) if not e.startswith("."))


def class_folders(path: str) -> list:
    """The sub-folders of `path` (one per class), sorted; [] when there are none."""
    if not os.path.isdir(path):
        return []
    return [e for e in _visible(path) if os.path.isdir(os.path.join(path, e))]


def is_image_folder(path: str) -> bool:
    """Whether `path` is a folder of class folders (or of images)."""
    if not os.path.isdir(path):
        return False
    folders = class_folders(path)
    if folders:
        return True
    return any(_is_image(e) for e in _visible(path))


def _image_files(path: str, *, argument: str) -> list:
    """Image files under `path` (recursively), as paths relative to `path`."""
    if os.path.isfile(path):
        if not _is_image(os.path.basename(path)):
            raise DataError(
                f"{argument} must be an image file ({', '.join(IMAGE_EXTENSIONS)}) "
                f"or a folder of them. Received: {path!r}."
            )
        return [os.path.basename(path)]
    files = []
    for folder, subfolders, names in os.walk(path):
        subfolders[:] = sorted(s for s in subfolders if not s.startswith("."))
        relative = os.path.relpath(folder, path)
        for name in sorted(names):
            if _is_image(name):
                files.append(os.path.normpath(os.path.join(relative, name)))
    return files


def _mode(paths: list) -> str:
    """ "L" when every image is grey, else "RGB"."""
    image_module = _pillow()
    for path in paths:
        with image_module.open(path) as image:
            if image.mode not in _GREY_MODES:
                return "RGB"
    return "L"


def _read(paths: list, mode: str, size, *, root: str) -> tuple:
    """Decodes `paths` as `mode`, resized to `size` = (height, width) if given.

    Returns:
        `(list of uint8 arrays, {(height, width): [files]})` for the sizes the
        files had before any resizing.
    """
    image_module = _pillow()
    arrays, sizes = [], {}
    for path in paths:
        try:
            with image_module.open(path) as image:
                image = image.convert(mode)
                width, height = image.size
                sizes.setdefault((height, width), []).append(
                    os.path.relpath(path, root)
                )
                if size is not None and (height, width) != tuple(size):
                    image = image.resize(
                        (size[1], size[0]), image_module.Resampling.BILINEAR
                    )
                arrays.append(np.asarray(image, dtype="uint8"))
        except OSError as error:
            raise DataError(
                f"Could not read the image {path!r}: {error}. Remove or replace the "
                "file."
            ) from None
    return arrays, sizes


def _stack(arrays: list, sizes: dict) -> np.ndarray:
    if len({a.shape for a in arrays}) > 1:
        described = "; ".join(
            f"{h}x{w} ({len(files)} file{'s' if len(files) > 1 else ''}, e.g. "
            f"{files[0]})"
            for (h, w), files in sorted(sizes.items(), key=lambda item: -len(item[1]))
        )
        raise DataError(
            f"The images have different sizes (height x width): {described}. Pass "
            "--image-size HEIGHT WIDTH (image_size=(height, width)) to resize them "
            "all to one size."
        )
    images = np.stack(arrays)
    return images if images.ndim == 4 else images[..., np.newaxis]


def _check_size(image_size) -> tuple | None:
    if image_size is None:
        return None
    size = tuple(image_size)
    if (
        len(size) != 2
        or not all(isinstance(s, int | np.integer) for s in size)
        or min(size) < 1
    ):
        raise DataError(
            "image_size must be two positive integers (height, width). Received: "
            f"image_size={image_size!r}."
        )
    return tuple(int(s) for s in size)


def read_class_folders(path: str, image_size=None, *, argument: str = "DATA"):
    """Reads a training folder laid out one sub-folder per class.

    Args:
        path: The folder; each sub-folder is a class named after it, holding
            that class's images (any depth below it).
        image_size: `(height, width)` to resize every image to; None keeps
            the files' size, which must then be the same for all.
        argument: The name of the argument, for error messages.

    Returns:
        `(images, labels, files)`: uint8 images `(n, height, width, channels)`
        (1 channel when every file is grey, else 3), the class name of each
        image, and each file's path relative to `path`.

    Raises:
        DataError: For a missing or empty folder, fewer than two classes, a
            class folder without images, unreadable files, or images of
            different sizes without `image_size`.
    """
    size = _check_size(image_size)
    if not os.path.isdir(path):
        raise DataError(
            f"{argument} must be a folder of class folders. Received: {path!r}, "
            f"which is not a folder. {_LAYOUT_HINT}"
        )
    classes = class_folders(path)
    if not classes:
        found = _visible(path)
        raise DataError(
            f"{argument} {path!r} holds no class folders (found "
            f"{len(found)} entr{'y' if len(found) == 1 else 'ies'}"
            f"{': ' + ', '.join(found[:5]) if found else ''}). {_LAYOUT_HINT}"
        )
    if len(classes) < 2:
        raise DataError(
            f"{argument} {path!r} holds one class folder ({classes[0]!r}); a "
            f"classifier needs at least two. {_LAYOUT_HINT}"
        )
    files, labels = [], []
    for name in classes:
        found = _image_files(os.path.join(path, name), argument=argument)
        if not found:
            raise DataError(
                f"The class folder {os.path.join(path, name)!r} holds no images "
                f"({', '.join(IMAGE_EXTENSIONS)}). Add images to it or remove it."
            )
        files += [os.path.join(name, f) for f in found]
        labels += [name] * len(found)
    paths = [os.path.join(path, f) for f in files]
    arrays, sizes = _read(paths, _mode(paths), size, root=path)
    return _stack(arrays, sizes), np.array(labels), files


def read_images(
    path: str, image_size=None, channels: int | None = None, *, argument: str = "DATA"
):
    """Reads every image in a folder (any depth) or one image file, to predict.

    Args:
        path: A folder (flat, or one sub-folder per class) or an image file.
        image_size: `(height, width)` to resize to; None keeps the files' size,
            which must then be the same for all.
        channels: 1 (grey) or 3 (RGB); None picks 1 when every file is grey.
        argument: The name of the argument, for error messages.

    Returns:
        `(images, files, num_resized)`: uint8 images `(n, height, width,
        channels)`, each file's path relative to `path` with "/" separators
        (its name for a flat folder), and the number of images whose size was
        changed.

    Raises:
        DataError: For a path without images or unreadable files.
    """
    size = _check_size(image_size)
    if not os.path.exists(path):
        raise DataError(f"{argument}: no such file or folder: {path!r}.")
    files = _image_files(path, argument=argument)
    if not files:
        raise DataError(
            f"{argument} {path!r} holds no images ({', '.join(IMAGE_EXTENSIONS)})."
        )
    root = path if os.path.isdir(path) else os.path.dirname(path)
    paths = [os.path.join(root, f) for f in files]
    if channels is None:
        mode = _mode(paths)
    elif channels in (1, 3):
        mode = "L" if channels == 1 else "RGB"
    else:
        raise DataError(f"channels must be 1 or 3. Received: channels={channels!r}.")
    arrays, sizes = _read(paths, mode, size, root=root)
    resized = 0 if size is None else sum(len(f) for s, f in sizes.items() if s != size)
    return _stack(arrays, sizes), [f.replace(os.sep, "/") for f in files], resized


def describe_classes(labels) -> str:
    """ "3 classes: cat (10), dog (12), fox (9)" for a list of labels."""
    counts = Counter(labels)
    shown = ", ".join(f"{name} ({count})" for name, count in sorted(counts.items()))
    return f"{len(counts)} classes: {shown}"
