"""The algorithm version recorded with every result.

Bump it whenever a change can alter any number a measurement produces; batch reprocessing keys its
"already done" check on (input hashes, algorithm version).
"""

from __future__ import annotations

ALGORITHM_VERSION = "0.2.0"  # 0.2.0: tumours outside the liver leave the burden
