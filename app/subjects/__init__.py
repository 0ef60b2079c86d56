"""Trial subjects over time: :mod:`.lesions` is the lesion table and its measurements per timepoint;
:mod:`.eligibility` the burden summary and the EDC's eligibility view.
"""
