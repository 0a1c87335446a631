"""Class lists that the shipped models and ``training/`` agree on."""

from typing import Dict, Tuple

# FER2013's own label order (the ``emotion`` column of fer2013.csv).
FER2013_CLASSES: Tuple[str, ...] = ("angry", "disgust", "fear", "happy", "sad", "surprise", "neutral")

# The subset the seed project trained on.
FER2013_5_CLASSES: Tuple[str, ...] = ("angry", "happy", "sad", "surprise", "neutral")

CLASS_SETS: Dict[str, Tuple[str, ...]] = {"fer7": FER2013_CLASSES, "fer5": FER2013_5_CLASSES}
