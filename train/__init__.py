"""Training code (needs the ``train`` extra: torch). May import ``tracker``, never the reverse."""
