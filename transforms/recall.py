"""Recall: images the result store already holds skip Preprocess, Embed and ReadText.

FetchImages looked each image's reading up in the store (transforms/fetch_images.py); this
stage hands the stored reading on as the streams those three stages would have made, and the
rest on to be read. Its rows are chosen again, so a new chooser needs no new reading.
"""
import apache_beam as beam

from transforms.records import EMBEDDING, FACTS, IMAGES, OCR, READING, Embedding, ImageFacts, OcrResult


class RecallFn(beam.DoFn):
    """FetchedImage -> to be read (IMAGES), or its stored reading on FACTS, OCR and EMBEDDING."""

    def __init__(self):
        self.from_store = beam.metrics.Metrics.counter('Store', 'images_from_store')
        self.to_read = beam.metrics.Metrics.counter('Store', 'images_to_read')

    def process(self, image):
        reading = image.reading_from_store
        if reading is None:
            self.to_read.inc()
            yield image
            return
        self.from_store.inc()
        link = image.link
        facts = ImageFacts(link, image.source, reading.width, reading.height, image.seconds, 0.0,
                           image_sha256=image.sha256, from_store=True)
        yield beam.pvalue.TaggedOutput(FACTS, (link, facts))
        yield beam.pvalue.TaggedOutput(OCR, (link, OcrResult(reading.words, 0.0, image.sha256)))
        yield beam.pvalue.TaggedOutput(EMBEDDING, (link, Embedding(reading.vector, 0.0, image.sha256)))


class Recall(beam.PTransform):
    """FetchedImage -> {IMAGES: the ones to read, FACTS, OCR, EMBEDDING: (link, record) of the ones
    the store already holds}."""

    def expand(self, images):
        split = images | 'FromStore' >> beam.ParDo(RecallFn()).with_outputs(*READING, main=IMAGES)
        return {name: split[name] for name in (IMAGES,) + READING}
