"""The logic specscan's stages call, with no Beam in it: tested and usable alone.

units (quantities in text), features (a row's candidates and what the chooser knows of them),
lines (dimension lines beside words), engines (the OCR engines), memory (the OCR workers'
allocator), priors (the training labels' units and values), chooser (the learned and the rule
chooser), confidence (its calibration), drawing (annotated images), download (one guarded
HTTP(S) download), store_entries and store_version (the result store's format and version).
The stages themselves, one module each named after its label on the job graph, are the
modules of transforms/; a test checks that importing any of these modules imports no Beam.
"""
