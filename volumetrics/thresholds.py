"""Imaging inclusion thresholds of the RETNET trial (NCT02724540), as exact named constants.

The protocol's inclusion criteria (Chen, Wileyto & Soulen 2018, Table 1) that imaging decides:

- "Liver tumor burden <= 70 % of the total liver volume" -- :data:`BURDEN_MAX_FRACTION`,
  inclusive. The protocol allows a visual estimate; this service measures it volumetrically.
- "... OR baseline tumor burden > 25 % of the liver volume" (one of three alternative
  qualifying conditions) -- :data:`BURDEN_HIGH_FRACTION`, strict.
- "Measurable metastasis to liver with at least one dimension >= 1.0 cm" --
  :data:`MEASURABLE_LESION_MIN_MM`, inclusive. The full RECIST 1.1 measurability rule (which also
  requires twice the slice thickness on slices thicker than 5 mm) lives in ``recist.criteria``.

The burden comparisons are decided exactly on the integer voxel counts (the voxel volume cancels
in the ratio), never on a rounded floating-point fraction: ``tumour / liver <= 0.70`` is decided as
``100 * tumour <= 70 * liver``.

References
----------
.. [1] Chen JX, Wileyto EP, Soulen MC. Randomized Embolization Trial for NeuroEndocrine Tumor
   Metastases to the Liver (RETNET): study protocol for a randomized controlled trial. Trials
   2018;19:390. doi:10.1186/s13063-018-2782-5. Table 1, inclusion criteria.
.. [2] ClinicalTrials.gov NCT02724540, "Randomized Embolization Trial for NeuroEndocrine Tumor
   Metastases To The Liver".
"""

from __future__ import annotations

from decimal import Decimal
from typing import Final

__all__ = ["BURDEN_HIGH_FRACTION", "BURDEN_MAX_FRACTION", "MEASURABLE_LESION_MIN_MM"]

#: Eligible when hepatic tumour volume / total liver volume is at most this (inclusive).
BURDEN_MAX_FRACTION: Final = Decimal("0.70")
#: "High baseline burden" qualifying condition: fraction strictly greater than this.
BURDEN_HIGH_FRACTION: Final = Decimal("0.25")
#: A measurable liver metastasis has at least one dimension of at least this (mm, inclusive).
MEASURABLE_LESION_MIN_MM: Final = Decimal("10")
