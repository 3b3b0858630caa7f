"""WriteAnnotations (--annotate_dir): each row's image with its candidates boxed, one JPEG per row.

The drawing is transforms/logic/drawing.py (pure Pillow, shared with the HTML report); this stage
joins each row's result to its image's bytes by link and writes the picture. The bytes join
only when someone asked for pictures; an image whose bytes the run did not fetch (a 304 answer,
or --resume) has none and is drawn on a blank canvas.
"""
import logging
from dataclasses import dataclass

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from transforms.logic.drawing import annotate, annotated_name
from transforms.records import IMAGES, RESULTS



@dataclass(frozen=True)
class AnnotateConfig:
    """--annotate_dir, and the --ocr_max_side and --max_image_pixels the run read its images with."""
    folder: str
    ocr_max_side: int
    max_pixels: int


class WriteAnnotatedFn(beam.DoFn):
    """(link, {RESULTS: RowResult, IMAGES: bytes}) -> one JPEG per row written to the folder."""

    def __init__(self, config: AnnotateConfig):
        self.config = config
        self.annotated = beam.metrics.Metrics.counter('WriteAnnotations', 'images_annotated')

    def process(self, element):
        _, joined = element
        image_bytes = next(iter(joined[IMAGES]), b'')
        for result in joined[RESULTS]:
            self._write(image_bytes, result)

    def _write(self, image_bytes: bytes, result) -> None:
        """Best effort: a picture for people that cannot be written costs a log line, not the row."""
        config = self.config
        try:
            with FileSystems.create(FileSystems.join(config.folder, annotated_name(result))) as handle:
                handle.write(annotate(image_bytes, result, ocr_max_side=config.ocr_max_side,
                                      max_pixels=config.max_pixels))
            self.annotated.inc()
        except Exception as error:
            logging.warning('specscan: no annotated image for row %s: %s', result.index, error)


class WriteAnnotations(beam.PTransform):
    """{RESULTS: RowResult, IMAGES: FetchedImage} -> annotated JPEGs under the folder."""

    def __init__(self, config: AnnotateConfig):
        super().__init__()
        self.config = config

    def expand(self, streams):
        keyed = {RESULTS: streams[RESULTS] | 'KeyResultsByLink' >> beam.Map(lambda r: (r.image_link, r)),
                 IMAGES: streams[IMAGES] | 'KeyBytesByLink' >> beam.Map(lambda image: (image.link, image.data))}
        return (keyed
                | 'JoinByLink' >> beam.CoGroupByKey()
                | 'Write' >> beam.ParDo(WriteAnnotatedFn(self.config)))
