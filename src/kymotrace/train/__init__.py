"""Training of kymotrace's neural modules on synthetic data (``kymotrace train``).

Only this package, ``kymotrace.models`` and ``kymotrace.segment`` import torch.
"""
