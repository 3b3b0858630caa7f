"""Progress of a local run: a live line (tqdm) on a terminal, a log line every N rows otherwise.

Rows are joined to their image's results only after every image has been read (a
GroupByKey), so rows finish all at once at the end; images finish one by one. Progress is
therefore counted in images: each worker process (also with --direct_running_mode
multi_processing) appends the links it has finished to its own file in a local folder, and
the launching process tails those files, turns links into rows with the input's own
link -> rows count, and shows rows done / total, images per second and the time left, and how
many images were read anew and how many came from the result store. The workers' side is
the MarkProgress stage (transforms/mark_progress.py).
On Dataflow the step counters are the progress (FetchImages, Preprocess, ReadText, ...).
"""
import os
import sys
import threading
import time
from collections import Counter
from typing import Dict, Optional

from transforms.mark_progress import FROM_STORE, READ

def format_duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f'{seconds // 3600}h {seconds % 3600 // 60:02d}m'
    if seconds >= 60:
        return f'{seconds // 60}m {seconds % 60:02d}s'
    return f'{seconds}s'


class ProgressWatcher:
    """Tails the workers' files from a thread; shows a tqdm bar or logs every `log_every` rows."""

    def __init__(self, folder: str, rows_per_link: Dict[str, int], rows_total: int,
                 mode: str = 'auto', log_every: int = 1000, interval: float = 0.5, stream=None):
        self.folder = folder
        self.rows_per_link = rows_per_link
        self.rows_total = rows_total
        self.rows_without_image = rows_total - sum(rows_per_link.values())  # rejected rows: done at once
        self.stream = stream or sys.stderr
        self.mode = ('bar' if self.stream.isatty() else 'log') if mode == 'auto' else mode
        self.log_every = max(1, log_every)
        self.interval = interval
        self.done = set()
        self.read = set()    # decoded and read by this run
        self.from_store = set()  # taken from the result store
        self.offsets: Dict[str, int] = {}
        self.started = time.monotonic()
        self.next_log = self.log_every
        self.bar = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def rows_done(self) -> int:
        return self.rows_without_image + sum(self.rows_per_link[link] for link in self.done)

    def poll(self) -> None:
        """Read what the workers appended since the last poll."""
        for name in sorted(os.listdir(self.folder)):
            path = os.path.join(self.folder, name)
            with open(path) as handle:
                handle.seek(self.offsets.get(path, 0))
                text = handle.read()
            complete = text[:text.rfind('\n') + 1]  # a line still being written waits for the next poll
            self.offsets[path] = self.offsets.get(path, 0) + len(complete.encode())
            links = [link for link in complete.splitlines() if link in self.rows_per_link]
            self.done.update(links)
            for kind, found in ((READ, self.read), (FROM_STORE, self.from_store)):
                if name.endswith(f'.{kind}.links'):
                    found.update(links)

    def line(self) -> str:
        """'rows 120/776 (15%), 1.3 images/s, about 8m 40s left; 40 images reused from the store, 12 read anew'."""
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = len(self.done) / elapsed
        images_left = len(self.rows_per_link) - len(self.done)
        left = format_duration(images_left / rate) if rate > 0 else '?'
        share = 100 * self.rows_done / self.rows_total if self.rows_total else 100
        reused = (f'; {len(self.from_store)} images reused from the store, {len(self.read)} read anew'
                  if self.from_store else '')
        return (f'rows {self.rows_done}/{self.rows_total} ({share:.0f}%), {rate:.1f} images/s, '
                f'about {left} left{reused}')

    def show(self) -> None:
        if self.mode == 'bar':
            if self.bar is None:
                from tqdm import tqdm
                self.bar = tqdm(total=self.rows_total, unit='row', file=self.stream, dynamic_ncols=True,
                                desc='specscan', bar_format='{desc}: {bar} {postfix}')
            self.bar.n = self.rows_done
            self.bar.set_postfix_str(self.line(), refresh=True)
        elif self.mode == 'log' and self.rows_done >= self.next_log:
            print(f'specscan: {self.line()}', file=self.stream, flush=True)
            self.next_log = (self.rows_done // self.log_every + 1) * self.log_every

    def _loop(self):
        while not self._stop.wait(self.interval):
            self.poll()
            self.show()

    def __enter__(self):
        if self.mode != 'quiet':
            self._thread = threading.Thread(target=self._loop, name='specscan-progress', daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        if self._thread:
            self._thread.join()
            self.poll()
            if self.mode == 'bar' or self.rows_done > self.next_log - self.log_every:
                self.next_log = 0  # the last figures, whatever the step
                self.show()
            if self.bar is not None:
                self.bar.close()
        return False


def rows_per_link(rows) -> Dict[str, int]:
    """link -> how many valid rows name it, from transforms.read_rows.parse_csv_text's output."""
    from transforms.records import Row
    return dict(Counter(row.image_link for row in rows if isinstance(row, Row)))
