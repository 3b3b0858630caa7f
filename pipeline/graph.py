"""Specscan: the whole job as one PTransform whose expand() only connects the named stages.

Each stage is a composite PTransform in its own module under transforms/ and takes its small
config (built from the options by pipeline.options.job_config). Per image, every stage hands on
(link, record) streams named once in transforms/records.py, failures on FAILED; Candidates joins
them back to the rows. The side concerns each take one line: the checkpoint that --resume reads,
the progress marks of a local run, and the --annotate_dir pictures.
"""
from typing import Optional

import apache_beam as beam

from pipeline import progress
from pipeline.options import JobConfig
from transforms.annotations import RESULTS, WriteAnnotations
from transforms.checkpoint import Checkpoint, Saved
from transforms.embed import Embed
from transforms.fetch import FetchImages
from transforms.ocr import ReadText
from transforms.predict import Choose, rejected_result
from transforms.preprocess import Preprocess
from transforms.read import REJECTED, ReadRows
from transforms.records import DECODED, EMBEDDING, FACTS, FAILED, IMAGES, OCR, ROWS
from transforms.row_candidates import Candidates
from transforms.sinks import WriteOutputs


class Specscan(beam.PTransform):
    """PBegin -> every input row's RowResult, also written under the output folder.

    `saved`: what an earlier, interrupted run checkpointed; those images are not fetched again.
    `progress_folder`: a local folder where workers mark finished images (pipeline.progress).
    """

    def __init__(self, config: JobConfig, saved: Optional[Saved] = None, progress_folder: Optional[str] = None):
        super().__init__()
        self.config = config
        self.saved = saved or Saved()
        self.progress_folder = progress_folder

    def expand(self, pbegin):
        config = self.config
        read = pbegin | 'ReadRows' >> ReadRows(config.input)
        fetched = read[ROWS] | 'FetchImages' >> FetchImages(config.fetch, skip=self.saved.done)
        decoded = fetched[IMAGES] | 'Preprocess' >> Preprocess(config.preprocess)
        embedded = decoded[DECODED] | 'Embed' >> Embed(config.embed)
        text = decoded[DECODED] | 'ReadText' >> ReadText(config.ocr)
        failed = (fetched[FAILED], decoded[FAILED], embedded[FAILED], text[FAILED]) | 'ImageFailures' >> beam.Flatten()
        if self.progress_folder:
            ({'Read': text[OCR], 'OcrFailed': text[FAILED], 'DecodeFailed': decoded[FAILED],
              'FetchFailed': fetched[FAILED]} | 'MarkProgress' >> progress.MarkImagesDone(self.progress_folder))
        per_image = ({FACTS: decoded[FACTS], OCR: text[OCR], EMBEDDING: embedded[EMBEDDING], FAILED: failed}
                     | 'Checkpoint' >> Checkpoint(config.checkpoint, self.saved))
        candidates = dict(per_image, **{ROWS: read[ROWS]}) | 'Candidates' >> Candidates()
        predicted = candidates | 'Choose' >> Choose(config.choose)
        if config.annotate:
            {RESULTS: predicted, IMAGES: fetched[IMAGES]} | 'Annotate' >> WriteAnnotations(config.annotate)
        rejected = read[REJECTED] | 'RejectedRows' >> beam.Map(rejected_result)
        results = (predicted, rejected) | 'AllRows' >> beam.Flatten()
        results | 'WriteOutputs' >> WriteOutputs(config.output, config.num_shards)
        return results
