"""One measurement: a series and its segmentation in, diameters, volumes and burden out.

:mod:`.submit` turns a request into a job (deduplicated by input); :mod:`.pipeline` runs it
(dicomio -> volumetrics/recist); :mod:`.labels` is the label choice and :mod:`.sources` the
stored inputs and their digest, both shared with the outputs.
"""
