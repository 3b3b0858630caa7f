"""RejectedRows: the lines ReadRows could not take as rows still reach every output.

A malformed line, a row with an unknown entity name or a bad link becomes a RejectedRow with
its reason; here it becomes a RowResult with no prediction and that reason, so predictions.csv
lists every input index and the failures output says why.
"""
import apache_beam as beam

from transforms.records import RejectedRow, RowResult
def rejected_result(rejected: RejectedRow) -> RowResult:
    """A row that never got past ReadRows: in the outputs with its reason, no prediction."""
    return RowResult(rejected.ordinal, rejected.index, rejected.image_link, rejected.group_id,
                     rejected.entity_name, '', failure_stage=rejected.failure.stage,
                     failure_reason=rejected.failure.reason)


class RejectedRows(beam.PTransform):
    """ReadRows' RejectedRows -> their RowResults: every input row reaches the outputs."""

    def expand(self, rejected):
        return rejected | 'AsResults' >> beam.Map(rejected_result)
