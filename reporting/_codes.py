"""Coded concepts used in the DICOM outputs (SR TID 1500 and SEG), in one place.

Standard codes come from DICOM PS3.16 (scheme ``DCM``), SNOMED CT (``SCT``) and UCUM. Concepts
that no standard terminology defines (tumour burden fraction, sum of diameters, the overall and
hepatic RECIST responses, "not evaluable") use the private coding scheme
:data:`PRIVATE_SCHEME` (PS3.3 section 8.2: private scheme designators start with ``99``), which
the SR declares in its Coding Scheme Identification Sequence. Their code values are the CDISC
SDTM test codes of :mod:`reporting.sdtm`, so the two outputs can be joined.

References
----------
.. [1] DICOM PS3.16, TID 1500 "Measurement Report", TID 1410 "Planar ROI Measurements and
   Qualitative Evaluations", TID 1501 "Measurement and Qualitative Evaluation Group";
   CID 6144 "Response Criteria", CID 6147 "Response Criteria" (RECIST 1.1, DCM 126081);
   CID 7150/7151 "Segmentation Property Categories/Types".
"""

from __future__ import annotations

from typing import Final

import highdicom as hd

#: Private coding scheme of this service's sponsor-defined concepts.
PRIVATE_SCHEME: Final = "99LVBRDN"
PRIVATE_SCHEME_NAME: Final = "liverburden sponsor-defined concepts"


def _private(value: str, meaning: str) -> hd.sr.CodedConcept:
    return hd.sr.CodedConcept(value, PRIVATE_SCHEME, meaning)


# Anatomy, findings and segmentation properties (SNOMED CT).
LIVER: Final = hd.sr.CodedConcept("10200004", "SCT", "Liver")
LESION: Final = hd.sr.CodedConcept("52988006", "SCT", "Lesion")
NEOPLASM: Final = hd.sr.CodedConcept("108369006", "SCT", "Neoplasm")
ANATOMICAL_STRUCTURE: Final = hd.sr.CodedConcept("123037004", "SCT", "Anatomical Structure")
MORPHOLOGICALLY_ALTERED: Final = hd.sr.CodedConcept(
    "49755003", "SCT", "Morphologically Altered Structure"
)
YES: Final = hd.sr.CodedConcept("373066001", "SCT", "Yes")
NO: Final = hd.sr.CodedConcept("373067005", "SCT", "No")

# Measurements.
LONG_AXIS: Final = hd.sr.CodedConcept("103339001", "SCT", "Long axis")
SHORT_AXIS: Final = hd.sr.CodedConcept("103340004", "SCT", "Short axis")
VOLUME: Final = hd.sr.CodedConcept("118565006", "SCT", "Volume")
BURDEN_FRACTION: Final = _private("TUMBURDN", "Tumor Burden Fraction of Liver Volume")
SUM_OF_DIAMETERS: Final = _private("SUMDIAM", "Sum of Diameters")

# Units (UCUM).
MM: Final = hd.sr.CodedConcept("mm", "UCUM", "millimeter")
ML: Final = hd.sr.CodedConcept("ml", "UCUM", "milliliter")
PERCENT: Final = hd.sr.CodedConcept("%", "UCUM", "percent")

# Procedures.
CT_PROCEDURE: Final = hd.sr.CodedConcept("25045-6", "LN", "CT unspecified body region")
MR_PROCEDURE: Final = hd.sr.CodedConcept("25056-3", "LN", "MRI unspecified body region")

# RECIST response (names are private SDTM test codes, values DCM where DICOM defines them).
RESPONSE_METHOD: Final = hd.sr.CodedConcept("112021", "DCM", "Response Evaluation Method")
RECIST_1_1: Final = hd.sr.CodedConcept("126081", "DCM", "RECIST 1.1")
TARGET_RESPONSE: Final = _private("TRGRESP", "Target Response")
NON_TARGET_RESPONSE: Final = _private("NTRGRESP", "Non-target Response")
NEW_LESION_PROGRESSION: Final = _private("NEWLPROG", "New Lesion Progression")
OVERALL_RESPONSE: Final = _private("OVRLRESP", "Overall Response")
HEPATIC_RESPONSE: Final = _private("HEPRESP", "Hepatic Overall Response")

#: Target-lesion response values (DICOM CID 6144), private code for "not evaluable".
TARGET_RESPONSE_CODES: Final = {
    "CR": hd.sr.CodedConcept("112041", "DCM", "Target Lesion Complete Response"),
    "PR": hd.sr.CodedConcept("112042", "DCM", "Target Lesion Partial Response"),
    "PD": hd.sr.CodedConcept("112043", "DCM", "Target Lesion Progressive Disease"),
    "SD": hd.sr.CodedConcept("112044", "DCM", "Target Lesion Stable Disease"),
    "NE": _private("NE", "Not Evaluable"),
}
#: Non-target response values (DICOM CID 6144), private code for "not evaluable".
NON_TARGET_RESPONSE_CODES: Final = {
    "CR": hd.sr.CodedConcept("112045", "DCM", "Non-Target Lesion Complete Response"),
    "NON_CR_NON_PD": hd.sr.CodedConcept(
        "112046", "DCM", "Non-Target Lesion Incomplete Response or Stable Disease"
    ),
    "PD": hd.sr.CodedConcept("112047", "DCM", "Non-Target Lesion Progressive Disease"),
    "NE": _private("NE", "Not Evaluable"),
}
#: Overall (and hepatic) response values: no DICOM code exists, so private codes.
OVERALL_RESPONSE_CODES: Final = {
    "CR": _private("CR", "Complete Response"),
    "PR": _private("PR", "Partial Response"),
    "SD": _private("SD", "Stable Disease"),
    "PD": _private("PD", "Progressive Disease"),
    "NE": _private("NE", "Not Evaluable"),
    "NON_CR_NON_PD": _private("NON-CR/NON-PD", "Non-CR/Non-PD"),
}
