"""Specscan: the whole job as one PTransform whose expand() only connects the named stages.

Each stage is a composite PTransform in the module of transforms/ named after its label
('ReadText' >> ReadText(...) lives in transforms/read_text.py) and takes its small config
(built from the options by pipeline.options.job_config). Per image, every stage hands on
(link, record) streams named once in transforms/records.py, failures on FAILED; Candidates joins
them back to the rows. Images the result store already holds skip Preprocess, Embed and ReadText
(Recall hands on their stored reading), and what this run reads is saved there as it is made
(Remember). The side concerns each take one line: the progress marks of a local run
(MarkProgress), and the --annotate_dir pictures (Annotate).
"""
from typing import Optional

import apache_beam as beam

from pipeline.options import JobConfig
from transforms.annotate import WriteAnnotations
from transforms.candidates import Candidates
from transforms.choose import Choose
from transforms.embed import Embed
from transforms.fetch_images import FetchImages
from transforms.mark_progress import FROM_STORE, READ, MarkProgress
from transforms.preprocess import Preprocess
from transforms.read_rows import ReadRows
from transforms.read_text import ReadText
from transforms.recall import Recall
from transforms.records import DECODED, EMBEDDING, FACTS, FAILED, IMAGES, OCR, READING, REJECTED, RESULTS, ROWS
from transforms.rejected_rows import RejectedRows
from transforms.remember import Remember
from transforms.write_outputs import WriteOutputs


class Specscan(beam.PTransform):
    """PBegin -> every input row's RowResult, also written under the output folder.

    `progress_folder`: a local folder where workers mark finished images (MarkProgress).
    """

    def __init__(self, config: JobConfig, progress_folder: Optional[str] = None):
        super().__init__()
        self.config = config
        self.progress_folder = progress_folder

    def expand(self, pbegin):
        config = self.config
        read = pbegin | 'ReadRows' >> ReadRows(config.input)
        fetched = read[ROWS] | 'FetchImages' >> FetchImages(config.fetch, config.store)
        stored = fetched[IMAGES] | 'Recall' >> Recall()
        decoded = stored[IMAGES] | 'Preprocess' >> Preprocess(config.preprocess)
        embedded = decoded[DECODED] | 'Embed' >> Embed(config.embed)
        text = decoded[DECODED] | 'ReadText' >> ReadText(config.ocr)
        read_now = {FACTS: decoded[FACTS], OCR: text[OCR], EMBEDDING: embedded[EMBEDDING]}
        read_now | 'Remember' >> Remember(config.store)
        failed = (fetched[FAILED], decoded[FAILED], embedded[FAILED], text[FAILED]) | 'ImageFailures' >> beam.Flatten()
        if self.progress_folder:
            ({READ: text[OCR], FROM_STORE: stored[OCR], 'OcrFailed': text[FAILED],
              'DecodeFailed': decoded[FAILED], 'FetchFailed': fetched[FAILED]}
             | 'MarkProgress' >> MarkProgress(self.progress_folder))
        per_image = {kind: (read_now[kind], stored[kind]) for kind in READING}
        candidates = dict(per_image, **{FAILED: failed, ROWS: read[ROWS]}) | 'Candidates' >> Candidates()
        predicted = candidates | 'Choose' >> Choose(config.choose)
        if config.annotate:
            {RESULTS: predicted, IMAGES: fetched[IMAGES]} | 'Annotate' >> WriteAnnotations(config.annotate)
        rejected = read[REJECTED] | 'RejectedRows' >> RejectedRows()
        results = (predicted, rejected) | 'AllRows' >> beam.Flatten()
        results | 'WriteOutputs' >> WriteOutputs(config.output, config.num_shards)
        return results
