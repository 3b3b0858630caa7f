"""Remember: what this run reads is saved to the result store as it is made.

Each image's facts, OCR words and embedding are written under the sha256 of its bytes and the
reading version as soon as its stage makes them, so a killed run keeps what it read
(`--resume`), and the next night's run reads only new and changed images.
"""
import logging

import apache_beam as beam

from transforms.files import Store
from transforms.records import FACTS, READING


class SaveFn(beam.DoFn):
    """(link, record) of one kind -> written to the store under its image's sha256, as it comes."""

    def __init__(self, config, kind: str):
        self.config = config
        self.kind = kind
        self.saved = beam.metrics.Metrics.counter('Store', f'{kind}_saved')
        self.failed = beam.metrics.Metrics.counter('Store', f'{kind}_not_saved')

    def setup(self):
        self.store = Store(self.config)

    def process(self, element):
        _, record = element
        if not record.image_sha256 or (self.kind == FACTS and not record.width):  # an image that did not decode
            return
        try:
            self.store.save(self.kind, record.image_sha256, record)
            self.saved.inc()
        except Exception as error:  # a store that cannot be written costs the next run time, not this run
            self.failed.inc()
            logging.warning('specscan: could not save to the store: %s', str(error)[:300])


class Remember(beam.PTransform):
    """{FACTS, OCR, EMBEDDING: (link, record)} read by this run -> each saved to the store as it is made.
    config: the StoreConfig (pipeline/options.py)."""

    def __init__(self, config):
        super().__init__()
        self.config = config

    def expand(self, streams):
        return [streams[kind] | f'Save{kind.capitalize()}' >> beam.ParDo(SaveFn(self.config, kind))
                for kind in READING]
