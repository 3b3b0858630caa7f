"""Specscan: the whole job as one PTransform whose expand() only connects the named stages.

Each stage is a composite PTransform in its own module under transforms/ and takes its small
config (built from the options by pipeline.options.job_config). Per image, every stage hands on
(link, record) streams named once in transforms/records.py, failures on FAILED; Candidates joins
them back to the rows. Images the result store already holds skip Preprocess, Embed and ReadText
(Recall hands on their stored reading), and what this run reads is saved there as it is made
(Remember: transforms/store.py). The side concerns each take one line: the progress marks of a
local run, and the --annotate_dir pictures.
"""
from typing import Optional

import apache_beam as beam

from pipeline import progress
from pipeline.options import JobConfig
from transforms.annotations import RESULTS, WriteAnnotations
from transforms.embed import Embed
from transforms.fetch import FetchImages
from transforms.ocr import ReadText
from transforms.predict import Choose, rejected_result
from transforms.preprocess import Preprocess
from transforms.read import REJECTED, ReadRows
from transforms.records import DECODED, EMBEDDING, FACTS, FAILED, IMAGES, OCR, READING, ROWS
from transforms.row_candidates import Candidates
from transforms.sinks import WriteOutputs
from transforms.store import Recall, Remember


class Specscan(beam.PTransform):
    """PBegin -> every input row's RowResult, also written under the output folder.

    `progress_folder`: a local folder where workers mark finished images (pipeline.progress).
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
            ({progress.READ: text[OCR], progress.REUSED: stored[OCR], 'OcrFailed': text[FAILED],
              'DecodeFailed': decoded[FAILED], 'FetchFailed': fetched[FAILED]}
             | 'MarkProgress' >> progress.MarkImagesDone(self.progress_folder))
        per_image = {kind: (read_now[kind], stored[kind]) for kind in READING}
        candidates = dict(per_image, **{FAILED: failed, ROWS: read[ROWS]}) | 'Candidates' >> Candidates()
        predicted = candidates | 'Choose' >> Choose(config.choose)
        if config.annotate:
            {RESULTS: predicted, IMAGES: fetched[IMAGES]} | 'Annotate' >> WriteAnnotations(config.annotate)
        rejected = read[REJECTED] | 'RejectedRows' >> beam.Map(rejected_result)
        results = (predicted, rejected) | 'AllRows' >> beam.Flatten()
        results | 'WriteOutputs' >> WriteOutputs(config.output, config.num_shards)
        return results
