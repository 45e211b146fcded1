"""Training code (needs the ``train`` extra: torch). May import ``tracker``, never the reverse."""
import importlib.util as _util
import sys as _sys

#: the modules of the ``[train]`` extra (pyproject.toml) that train/ and export/ import
TRAIN_EXTRA = ("torch", "onnx", "onnxscript")


def hint_missing_extra() -> None:
    """Where a module of the ``[train]`` extra is not installed, an uncaught ModuleNotFoundError
    for it (``python -m train.train_landmarks`` in a runtime-only install) ends in one line naming
    the extra to install, not a traceback. Any other error shows as before; with the extra installed
    nothing changes. Only the missing import fails: the modules that need no torch still work."""
    if all(_util.find_spec(m) is not None for m in TRAIN_EXTRA) or getattr(_sys.excepthook, "_hint", False):
        return
    previous = _sys.excepthook

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, ModuleNotFoundError) and (exc.name or "").partition(".")[0] in TRAIN_EXTRA:
            _sys.stderr.write(f"error: {exc}: training and export need the [train] extra: pip install -e "
                              "'.[train]' in a clone of handtrack (torch==2.13.0, onnx, onnxscript)\n")
        else:
            previous(exc_type, exc, tb)

    hook._hint = True
    _sys.excepthook = hook


hint_missing_extra()
