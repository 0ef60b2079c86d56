"""Semi-automatic segmentation of a stored series (liver from a click, a lesion from a caliper).

:mod:`.autoseg` runs it and stores the result as a new segmentation; :mod:`.files` links a series'
instances into a scratch folder and writes the label map.
"""
