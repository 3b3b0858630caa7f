"""Beam's DaskRunner with the fixes specscan needs to run right on a Dask cluster.

    python -m pipeline.run ... --runner DaskRunner --dask_client_address tcp://HOST:8786

(pipeline.run maps the name DaskRunner to this module's; Beam's own is
apache_beam.runners.dask.dask_runner.DaskRunner.)

Beam 2.72's own DaskRunner (apache_beam/runners/dask/) translates a pipeline into Dask Bags,
and three things in that translation lose data without an error; tests/test_dask.py runs Beam's
runner on a minimal case of each (`test_beams_dask_runner_*`) and fails once Beam fixes it:

1. What a DoFn emits from finish_bundle() is dropped: `apply_dofn_to_bundle` takes the
   bundle's outputs before it calls finish_bundle. This empties Beam's own file sinks
   (WriteToText, WriteToParquet: the written shard is announced from finish_bundle, so the
   finalize step sees none and writes one empty file), BatchElements' last batch (and so
   RunInference's), and our FetchImageFn's last downloads.
2. Tagged outputs are not told apart: every output of a ParDo lands in one Bag, and each
   consumer of any of its outputs (`with_outputs`) reads all of them.
3. Only the last transform visited is computed (`dask.optimize(list(bags.values())[-1])`):
   a branch that does not feed it (a second sink, the result-store writer) never runs.

This module keeps Beam's translation of Create, GroupByKey and Flatten and replaces the rest:
a ParDo runs as one Dask task per partition with fresh receivers, finish_bundle included, and
its outputs are kept as (tag, value) pairs that each output PCollection selects from; side
inputs are computed once as Dask dependencies of the task (Beam's runner recomputes them inside
each task that reads them); Reshuffle spreads the elements over more partitions (Beam's runner
does nothing there, so a job whose input is one file ran in one task); and every leaf is
computed. A DoFn instance is set up once per worker process and reused by later bundles.
Windowing stays as Beam's runner has it: global windows only, which is all specscan uses.

Upstream: no apache/beam issue was found for any of the three (searched for DaskRunner with
finish_bundle, tagged outputs, WriteToText writing an empty file, unexecuted branches). The
code is Beam 2.72.0's runners/dask/transform_evaluator.py (`apply_dofn_to_bundle` for 1, the
ParDo's single `OneReceiver` for 2) and dask_runner.py (`DaskRunner.run_pipeline` for 3).
When all three `test_beams_dask_runner_*` tests fail, remove this module and let `--runner
DaskRunner` mean Beam's.
"""
import collections
import logging
import threading
import typing as t
import uuid

import apache_beam as beam
import dask.bag as db
from apache_beam import pvalue
from apache_beam.internal import pickler
from apache_beam.runners.common import DoFnContext, DoFnInvoker, DoFnSignature, Receiver, _OutputHandler
from apache_beam.runners.dask import dask_runner as beam_dask
from apache_beam.runners.dask.overrides import _Create, _Flatten, _GroupAlsoByWindow, _GroupByKeyOnly, _Reshuffle
from apache_beam.runners.dask.transform_evaluator import Create, Flatten, GroupByKey, get_windowed_value
from apache_beam.runners.runner import PipelineState
from apache_beam.transforms.sideinputs import SideInputMap

_LOGGER = logging.getLogger(__name__)

# DoFn instances already set up in this worker process, free for the next bundle of their step,
# for the job that ran here last (a worker of a long-lived cluster serves one job after another).
_IDLE_FNS: t.Dict[tuple, list] = collections.defaultdict(list)
_IDLE_LOCK = threading.Lock()
_IDLE_JOB = [None]


class _ListReceiver(Receiver):
    """Collects one output tag's values as (tag, value) pairs into the bundle's list."""

    def __init__(self, tag, out: list):
        self.tag = tag
        self.out = out

    def receive(self, windowed_value):
        self.out.append((self.tag, windowed_value.value))


class _Receivers(dict):
    def __init__(self, out: list):
        super().__init__()
        self.out = out

    def __missing__(self, tag):
        self[tag] = _ListReceiver(tag, self.out)
        return self[tag]


def _acquire_fn(key: tuple, pickled_fn: bytes):
    """(DoFn, whether it still needs setup()): a set-up instance of this step when one is idle.

    The first bundle of another job in this process tears down the idle instances of the last one.
    """
    stale = []
    with _IDLE_LOCK:
        if _IDLE_JOB[0] != key[0]:
            stale = [fn for fns in _IDLE_FNS.values() for fn in fns]
            _IDLE_FNS.clear()
            _IDLE_JOB[0] = key[0]
        fn = _IDLE_FNS[key].pop() if _IDLE_FNS[key] else None
    for old in stale:
        try:
            old.teardown()
        except Exception:  # teardown is best effort in Beam too
            _LOGGER.warning('teardown of an idle DoFn failed', exc_info=True)
    if fn is not None:
        return fn, False
    return pickler.loads(pickled_fn), True


def _release_fn(key: tuple, fn) -> None:
    with _IDLE_LOCK:
        _IDLE_FNS[key].append(fn)


def run_bundle(items, step: dict, *side_values) -> list:
    """One Dask partition through one DoFn, as one Beam bundle: [(tag, value), ...], finish_bundle's too."""
    key = (step['job'], step['label'], step['token'])
    fn, needs_setup = _acquire_fn(key, step['fn'])
    out: list = []
    receivers = _Receivers(out)
    handler = _OutputHandler(
        window_fn=step['window_fn'], main_receivers=receivers[None], tagged_receivers=receivers,
        per_element_output_counter=None, output_batch_converter=None,
        process_yields_batches=False, process_batch_yields_elements=False)
    side_inputs = [SideInputMap(view_class, view_options, [get_windowed_value(v, mapping_fn) for v in values])
                   for (view_class, view_options, mapping_fn), values in zip(step['side_views'], side_values)]
    invoker = DoFnInvoker.create_invoker(
        DoFnSignature(fn), handler, context=DoFnContext(step['label'], state=None), side_inputs=side_inputs,
        input_args=step['args'], input_kwargs=step['kwargs'], user_state_context=None,
        bundle_finalizer_param=beam.DoFn.BundleFinalizerParam())
    if needs_setup:
        invoker.invoke_setup()
    invoker.invoke_start_bundle()
    for item in items:
        invoker.invoke_process(get_windowed_value(item, step['window_fn']))
    invoker.invoke_finish_bundle()
    _release_fn(key, fn)  # only after a whole bundle: a failed one's instance is not reused
    return out


def select_tag(pairs, tag) -> list:
    return [value for pair_tag, value in pairs if pair_tag == tag]


def concat_lists(lists) -> list:
    return [value for values in lists for value in values]


def drain(values) -> list:
    for _ in values:
        pass
    return []


def materialize(bag):
    """A Bag as one Dask task holding the list of all its elements (a side input's content).

    As a Delayed made without optimising: a Bag or Item passed as an argument is optimised on its
    own, into a copy of everything upstream of it, which would then run twice.
    """
    return bag.reduction(list, concat_lists).to_delayed(optimize_graph=False)


class _ParDo:
    """A ParDo: one task per partition; the result holds (tag, value) pairs for every output."""

    def __init__(self, applied, job: str):
        self.applied = applied
        self.job = job

    def apply(self, input_bag, side_bags):
        transform = self.applied.transform
        main_input = next(iter(self.applied.main_inputs.values()))
        pickled_fn = pickler.dumps(transform.fn)
        step = {
            'job': self.job,
            'label': self.applied.full_label,
            'token': hash(pickled_fn),
            'fn': pickled_fn,
            'args': transform.args,
            'kwargs': transform.kwargs,
            'window_fn': main_input.windowing.windowfn if hasattr(main_input, 'windowing') else None,
            'side_views': [(type(si), si._view_options(), si._window_mapping_fn) for si in self.applied.side_inputs],
        }
        return input_bag.map_partitions(run_bundle, step, *[materialize(bag) for bag in side_bags])


class DaskRunner(beam_dask.DaskRunner):
    """Beam's DaskRunner with finish_bundle outputs, tagged outputs and every branch kept."""

    @staticmethod
    def to_dask_bag_visitor(bag_kwargs=None, reshuffle_partitions: int = 2):
        return _Visitor(bag_kwargs or {}, reshuffle_partitions)

    def run_pipeline(self, pipeline, options):
        import dask.distributed as ddist

        dask_options = options.view_as(beam_dask.DaskOptions).get_all_options(drop_default=True, current_only=True)
        bag_kwargs = beam_dask.DaskOptions._extract_bag_kwargs(dask_options)
        client = ddist.Client(**dask_options)
        threads = sum(client.nthreads().values()) or 1
        pipeline.replace_all(beam_dask.dask_overrides())
        visitor = self.to_dask_bag_visitor(bag_kwargs, bag_kwargs.get('npartitions') or 2 * threads)
        pipeline.visit(visitor)
        # computed together, so a step that several leaves need runs once (dask.optimize first would copy it)
        futures = client.compute([bag.map_partitions(drain) for bag in visitor.leaves()])
        return DaskRunnerResult(client, futures)


class DaskRunnerResult(beam_dask.DaskRunnerResult):
    """Closes the runner's client once the job is done, so that no reconnect errors follow."""

    def wait_until_finish(self, duration=None) -> str:
        try:
            return super().wait_until_finish(duration)
        finally:
            if self.state != PipelineState.RUNNING:
                self.client.close()


class _Visitor(beam.pipeline.PipelineVisitor):
    """Beam transform -> Dask Bag, one Bag per output PCollection."""

    def __init__(self, bag_kwargs: dict, reshuffle_partitions: int):
        self.bag_kwargs = bag_kwargs
        self.reshuffle_partitions = reshuffle_partitions
        self.job = uuid.uuid4().hex
        self.bags: t.Dict[pvalue.PCollection, t.Any] = {}
        self.consumed: set = set()

    def leaves(self) -> list:
        return [bag for pcoll, bag in self.bags.items() if pcoll not in self.consumed]

    def visit_transform(self, node) -> None:
        transform = node.transform
        inputs = [self.bags[p] for p in node.inputs if not isinstance(p, pvalue.PBegin)]
        side_bags = [self.bags[si.pvalue] for si in node.side_inputs]
        self.consumed.update(p for p in node.inputs if not isinstance(p, pvalue.PBegin))
        self.consumed.update(si.pvalue for si in node.side_inputs)
        kind = type(transform)
        if isinstance(transform, beam.ParDo) and kind is not _GroupAlsoByWindow:  # Map, FlatMap, WindowInto too
            pairs = _ParDo(node, self.job).apply(inputs[0], side_bags)
            for pcoll in node.outputs.values():
                self.bags[pcoll] = pairs.map_partitions(select_tag, pcoll.tag)
            return
        if kind is _Create:
            # Beam's default (128 elements a partition), without its warning that it used to be 1
            result = Create(node, bag_kwargs=self.bag_kwargs or {'partition_size': 128}).apply(None)
        elif kind is _GroupByKeyOnly:
            result = GroupByKey(node).apply(inputs[0])
        elif kind is _Flatten:
            result = Flatten(node).apply(inputs) if inputs else db.from_sequence([], npartitions=1)
        elif kind is beam.Impulse:
            result = db.from_sequence([b''], npartitions=1)
        elif kind is _Reshuffle:
            bag = inputs[0]
            result = bag.repartition(npartitions=max(bag.npartitions, self.reshuffle_partitions))
        elif kind is _GroupAlsoByWindow:  # as in Beam's translation: the grouping is done, windows are global
            result = inputs[0]
        else:
            raise NotImplementedError(f'{node.full_label}: {kind.__name__} has no Dask translation')
        for pcoll in node.outputs.values():
            self.bags[pcoll] = result

