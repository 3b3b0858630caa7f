"""specscan nightly: launch the Flex Template once a day on the previous day's CSV (Airflow 2.4+ or 3).

Needs apache-airflow-providers-google. Install by copying this one file into the DAGs folder
(Cloud Composer: `gcloud composer environments storage dags import --environment ENV
--location REGION --source templates/airflow_dag.py`); it imports nothing from specscan.

Every day at 02:00 UTC a run for the day before, ds (YYYY-MM-DD), reads
    gs://BUCKET/specscan/input/{{ ds }}.csv
and writes predictions.csv, records/ and failures/ to
    gs://BUCKET/specscan/output/{{ ds }}
with the Flex Template gs://BUCKET/specscan/templates/specscan.json on GPU workers.

Settings, each read when the task runs: the Airflow Variable specscan_<name> if set, else,
when the DAG file is parsed, the environment variable SPECSCAN_<NAME>, else the default below.
    project   the Google Cloud project                     (my-gcp-project)
    region    the Dataflow region                          (us-central1)
    bucket    the bucket of inputs, outputs and template   (my-specscan-bucket)
    image     the image templates/Dockerfile built         (us-central1-docker.pkg.dev/my-gcp-project/specscan/specscan:latest)
    template  the template spec file                       (gs://BUCKET/specscan/templates/specscan.json)
    min_confidence  predictions less sure than this are blank in predictions.csv (0: none;
              docs/confidence.md says how to pick it; confidence.csv keeps them all)
so that a default is replaced without editing this file (the GPU, machine type and worker
counts are constants below).
For example: airflow variables set specscan_bucket my-bucket
"""
import os

import pendulum
from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
from airflow.timetables.interval import CronDataIntervalTimetable

try:  # Airflow 3
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

DEFAULTS = {
    'project': 'my-gcp-project',
    'region': 'us-central1',
    'bucket': 'my-specscan-bucket',
    'image': 'us-central1-docker.pkg.dev/my-gcp-project/specscan/specscan:latest',
    'template': '',  # empty: gs://BUCKET/specscan/templates/specscan.json
    'min_confidence': '0',
}


def setting(name: str) -> str:
    """A Jinja expression for one setting: the Variable specscan_<name>, else $SPECSCAN_<NAME>, else the default.

    Read through Jinja when the task runs, so parsing the DAG file never queries Airflow's database.
    """
    fallback = os.environ.get(f'SPECSCAN_{name.upper()}', DEFAULTS[name])
    return "var.value.get('specscan_" + name + "', '" + fallback + "')"


def jinja(expression: str) -> str:
    return '{{ ' + expression + ' }}'


PROJECT = jinja(setting('project'))
REGION = jinja(setting('region'))
BUCKET = jinja(setting('bucket'))
IMAGE = jinja(setting('image'))
TEMPLATE = jinja(setting('template') + " or ('gs://' ~ " + setting('bucket') + " ~ '/specscan/templates/specscan.json')")

# GPU workers, sized for about 130k rows (90k images) a night: docs/dataflow.md has the
# arithmetic. These are estimates, not measured on Dataflow.
GPU = 'worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver'
MACHINE_TYPE = 'n1-standard-8'
MAX_WORKERS = 8
DISK_SIZE_GB = 50  # the image is ~8 GB; the default 25 GB of a Shuffle-service batch worker is tight

LAUNCH_BODY = {
    'launchParameter': {
        'jobName': 'specscan-{{ ds_nodash }}',
        'containerSpecGcsPath': TEMPLATE,
        'parameters': {
            # the job's own options (templates/metadata.json)
            'input': f'gs://{BUCKET}/specscan/input/{{{{ ds }}}}.csv',
            'output': f'gs://{BUCKET}/specscan/output/{{{{ ds }}}}',
            'images_dir': f'gs://{BUCKET}/specscan/images',
            # the result store, the same every night: images read before are not read again (docs/store.md)
            'store': f'gs://{BUCKET}/specscan/store',
            'model_path': '/template/models/efficientnet_lite0',
            'inference_max_batch_size': '64',
            'num_shards': '16',
            'min_confidence': jinja(setting('min_confidence')),
            # Beam / Dataflow options, passed to the launched program like the job's own
            'dataflow_service_options': GPU,
            'sdk_location': 'container',
            'number_of_worker_harness_threads': '2',
        },
        'environment': {
            'sdkContainerImage': IMAGE,
            'machineType': MACHINE_TYPE,
            'maxWorkers': MAX_WORKERS,
            'diskSizeGb': DISK_SIZE_GB,
            'additionalExperiments': ['use_runner_v2'],
            'tempLocation': f'gs://{BUCKET}/specscan/tmp',
            'stagingLocation': f'gs://{BUCKET}/specscan/staging',
        },
    },
}

with DAG(
    dag_id='specscan_nightly',
    description='specscan Flex Template on the day\'s product-image CSV, GPU workers',
    # Daily at 02:00 UTC, for the day before: with a data-interval timetable, ds is the start of
    # the interval (Airflow 2's default for cron strings; Airflow 3's default would make ds the
    # day of the run), so the run at 02:00 on the 15th reads the 14th's CSV.
    schedule=CronDataIntervalTimetable('0 2 * * *', timezone='UTC'),
    start_date=pendulum.datetime(2026, 1, 1, tz='UTC'),
    catchup=False,
    max_active_runs=1,
    tags=['specscan', 'dataflow'],
) as dag:
    launch = DataflowStartFlexTemplateOperator(
        task_id='launch_specscan',
        project_id=PROJECT,
        location=REGION,
        body=LAUNCH_BODY,
        append_job_name=True,  # a unique suffix, so a retry or a cleared run launches a new job
        wait_until_finished=True,  # the task fails when the job fails; deferrable=True frees the worker slot
    )
