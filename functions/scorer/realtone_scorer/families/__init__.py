"""Detector families behind the scorer's detector port.

Each family is a ``DetectorNet``: it owns its input length and preprocessing
(``features``, always fp32) and maps those features to one spoof logit per window
(``forward``, run in the precision the scorer chose). The 4-s, 16 kHz window stays the
contract; a family that wants another length pads or crops inside ``features``.
"""
