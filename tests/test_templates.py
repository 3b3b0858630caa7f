"""The Flex Template and its nightly schedules (templates/).

metadata.json lists exactly the job's options; one Beam version everywhere; the image is the
launcher and the GPU worker; the Cloud Scheduler job and the Airflow DAG send launch requests that
the Dataflow API and the job's parser accept. Nothing here reaches Google Cloud.

The Dockerfile is parsed into its instructions, the DAG file is imported (against stand-ins for
Airflow that keep what it builds, its templates rendered with Jinja as Airflow renders them), the
YAML and JSON are loaded: their values are checked, not their text. Only the docs are read as
text: the gcloud commands a person copies from them must match the definitions.

The test_dag_* tests load the DAG with the real apache-airflow and apache-airflow-providers-google
(with the apache-beam provider) and skip without them; they are not in requirements.lock. In a throwaway
venv with them, run only these with `python -m pytest -q --noconftest tests/test_templates.py -k dag`
(--noconftest: tests/conftest.py imports the drawing helpers, which need Pillow and numpy).
"""
import glob
import importlib.util
import json
import os
import re
import shlex
import sys
import types
from unittest import mock

import pytest
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DAG_PATH = os.path.join(ROOT, 'templates', 'airflow_dag.py')
MODEL_IN_IMAGE = '/template/models/efficientnet_lite0'
GPU_OPTION = 'worker_accelerator=type:nvidia-tesla-t4;count:1;install-nvidia-driver'
# The values the Cloud Scheduler definition's ${NAME} placeholders are filled with here.
PLACEHOLDERS = {'PROJECT': 'proj-1', 'REGION': 'europe-west4', 'BUCKET': 'bkt-1',
                'IMAGE': 'europe-west4-docker.pkg.dev/proj-1/specscan/specscan:v1',
                'SCHEDULER_SA': 'launcher@proj-1.iam.gserviceaccount.com'}
# Beam / Dataflow options a launch passes as parameters besides the job's own.
BEAM_PARAMETERS = {'dataflow_service_options', 'sdk_location', 'number_of_worker_harness_threads'}


def read(path):
    with open(os.path.join(ROOT, path)) as handle:
        return handle.read()


def all_docs():
    """README.md and every page under docs/, as one text: where a command is shown may move."""
    pages = ['README.md'] + sorted(os.path.relpath(page, ROOT) for page in
                                   glob.glob(os.path.join(ROOT, 'docs', '**', '*.md'), recursive=True))
    return '\n'.join(read(page) for page in pages)


def dockerfile():
    """templates/Dockerfile as (INSTRUCTION, arguments) pairs: continuation lines joined, comments dropped."""
    instructions, pending = [], ''
    for line in read('templates/Dockerfile').splitlines():
        if not line.strip() or line.lstrip().startswith('#'):
            continue
        if line.rstrip().endswith('\\'):
            pending += line.rstrip()[:-1] + ' '
            continue
        keyword, _, arguments = (pending + line).strip().partition(' ')
        instructions.append((keyword.upper(), ' '.join(arguments.split())))
        pending = ''
    assert not pending, 'the Dockerfile ends inside a continued line'
    return instructions


def position(instructions, keyword, arguments):
    """Where the instruction stands (an index), or an assertion error naming it."""
    found = [i for i, instruction in enumerate(instructions) if instruction == (keyword, arguments)]
    assert found, f'{keyword} {arguments}'
    return found[0]


def run_words(instructions):
    """Each RUN's shell words, one list a RUN."""
    return [shlex.split(arguments) for keyword, arguments in instructions if keyword == 'RUN']


def has_command(words, command):
    """Whether the words hold the command's words in a row (a command inside a `&&` chain)."""
    wanted = command.split()
    return any(words[i:i + len(wanted)] == wanted for i in range(len(words)))


def setup_packages():
    """The packages setup.py ships, from running it with setuptools.setup recording its arguments."""
    import runpy
    with mock.patch('setuptools.setup') as setup, mock.patch.object(sys, 'argv', ['setup.py']):
        runpy.run_path(os.path.join(ROOT, 'setup.py'))
    return setup.call_args.kwargs['packages']


def scheduler_job(values=None):
    """templates/cloud_scheduler_job.yaml with its ${NAME} placeholders filled."""
    text = read('templates/cloud_scheduler_job.yaml')
    for name, value in (values or PLACEHOLDERS).items():
        text = text.replace('${' + name + '}', value)
    job = yaml.safe_load(text)
    assert '${' not in json.dumps(job), 'a placeholder has no value'
    return job


def shipped_metadata():
    from tools.write_metadata import METADATA_PATH
    with open(METADATA_PATH) as handle:
        return json.load(handle)


def job_argv(launch_body):
    """The command line the Flex Template launcher gives the pipeline: every parameter as --name=value."""
    return [f'--{name}={value}' for name, value in launch_body['launchParameter']['parameters'].items()]


def api_schema(schema):
    """A Dataflow v1b3 API message: {field: its enum values, or None}. From Beam's generated client,
    else the discovery document google-api-python-client ships (later Beams dropped the client)."""
    try:
        from apache_beam.runners.dataflow.internal.clients.dataflow import dataflow_v1b3_messages as messages
        return {field.name: [e.name for e in field.type] if hasattr(field.type, 'names') else None
                for field in getattr(messages, schema).all_fields()}
    except ImportError:
        discovery_cache = pytest.importorskip('googleapiclient.discovery_cache')
        document = json.loads(discovery_cache.get_static_doc('dataflow', 'v1b3'))
        return {name: spec.get('enum') for name, spec in document['schemas'][schema]['properties'].items()}


def api_fields(schema):
    return set(api_schema(schema))


def check_launch_body(launch_body):
    """What Dataflow checks when the launch arrives, and what the launched program then parses."""
    from apache_beam.options.pipeline_options import PipelineOptions

    from pipeline.options import REQUIRED_OPTIONS, SpecscanOptions

    # the request has no field the API does not know
    launch = launch_body['launchParameter']
    for fields, schema in ((launch_body, 'LaunchFlexTemplateRequest'), (launch, 'LaunchFlexTemplateParameter'),
                           (launch['environment'], 'FlexTemplateRuntimeEnvironment')):
        assert set(fields) <= api_fields(schema), set(fields) - api_fields(schema)
    # every required template parameter is there, and each value passes the metadata's regexes
    parameters = launch_body['launchParameter']['parameters']
    declared = {p['name']: p for p in shipped_metadata()['parameters']}
    assert set(REQUIRED_OPTIONS) <= set(parameters)
    for name, value in parameters.items():
        assert isinstance(value, str), f'{name}: template parameters are strings'
        if name in declared:
            for regex in declared[name].get('regexes', []):
                assert re.match(regex, value), f'{name}={value} does not match {regex}'
        else:
            assert name in BEAM_PARAMETERS, f'{name} is neither a template parameter nor a known Beam option'
    # the program parses them: the job's options, and the Beam options as Beam options
    options = PipelineOptions(job_argv(launch_body))
    job = options.view_as(SpecscanOptions)
    assert job.input == parameters['input'] and job.output == parameters['output']
    assert job.model_path == MODEL_IN_IMAGE
    known = options.get_all_options()
    assert known['dataflow_service_options'] == [GPU_OPTION]
    assert known['sdk_location'] == 'container'
    assert known['number_of_worker_harness_threads'] == 2
    environment = launch_body['launchParameter']['environment']
    assert environment['machineType'].startswith('n1-'), 'GPUs attach to N1 machine types'
    assert 'use_runner_v2' in environment['additionalExperiments']
    assert environment['diskSizeGb'] >= 50


# metadata.json

def test_metadata_parameters_are_exactly_the_options():
    from tools.write_metadata import metadata, option_actions
    shipped = shipped_metadata()
    names = [p['name'] for p in shipped['parameters']]
    assert names == [a.dest for a in option_actions()]
    assert {p['name'] for p in shipped['parameters'] if not p['isOptional']} == {'input', 'output'}
    assert shipped == metadata(), 'templates/metadata.json is stale: run python tools/write_metadata.py'


def test_metadata_checks_what_dataflow_can_check():
    from tools.write_metadata import IMAGE_MODEL_PATH, option_actions
    actions = {a.dest: a for a in option_actions()}
    for parameter in shipped_metadata()['parameters']:
        action = actions[parameter['name']]
        assert parameter['groupName'] and parameter['helpText']
        if action.choices:
            assert parameter['paramType'] == 'ENUM'
            assert [o['value'] for o in parameter['enumOptions']] == list(action.choices)
        if action.type in (int, float) or action.choices or parameter['name'] in ('input', 'output'):
            assert parameter['regexes'], parameter['name']
        if 'defaultValue' in parameter:  # the console's pre-filled value passes the launch check
            assert all(re.match(r, parameter['defaultValue']) for r in parameter.get('regexes', []))
    assert IMAGE_MODEL_PATH == MODEL_IN_IMAGE


def test_metadata_is_what_the_dataflow_api_accepts():
    """gcloud copies the metadata file into the spec as it is; the API's TemplateMetadata decides."""
    shipped = shipped_metadata()
    assert set(shipped) <= api_fields('TemplateMetadata')
    parameter_schema = api_schema('ParameterMetadata')
    for parameter in shipped['parameters']:
        assert set(parameter) <= set(parameter_schema), set(parameter) - set(parameter_schema)
        if 'paramType' in parameter:
            assert parameter['paramType'] in parameter_schema['paramType']
        for option in parameter.get('enumOptions', []):
            assert set(option) <= api_fields('ParameterMetadataEnumOption')


# the image

def test_one_pinned_beam_version():
    from packaging.requirements import Requirement
    requirements = [Requirement(line) for line in read('requirements.in').splitlines()
                    if line.strip() and not line.startswith('#')]
    [beam_requirement] = [r for r in requirements if r.name == 'apache-beam']
    [pin] = [spec.version for spec in beam_requirement.specifier if spec.operator == '==']
    locked = dict(line.split('==') for line in read('requirements.lock').splitlines() if '==' in line
                  and not line.startswith((' ', '#')))
    assert locked['apache-beam'] == pin
    images = [arguments.split()[0] for keyword, arguments in dockerfile() if keyword == 'FROM']
    assert f'apache/beam_python3.11_sdk:{pin}' in images


def test_dockerfile_installs_tesseract_and_checks_the_stack():
    instructions = dockerfile()
    assert any(has_command(words, 'apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng')
               for words in run_words(instructions))
    locked = position(instructions, 'RUN', 'pip install --no-cache-dir --no-deps -r requirements.lock')
    checked = position(instructions, 'RUN', 'python tools/pip_check.py')
    model = position(instructions, 'RUN', f'python -m pipeline.build_model --out {MODEL_IN_IMAGE}')
    # the model is built with the locked stack and the code it imports already in the image
    assert locked < checked < model
    assert position(instructions, 'COPY', 'pipeline/ pipeline/') < model
    assert position(instructions, 'COPY', 'transforms/ transforms/') < model


def test_dockerfile_copies_only_what_the_repository_has():
    for keyword, arguments in dockerfile():
        if keyword == 'COPY' and not arguments.startswith('--from='):
            *sources, _ = arguments.split()
            for source in sources:
                assert os.path.exists(os.path.join(ROOT, source)), f'COPY {source}: not in the repository'


def test_dockerfile_is_launcher_and_worker_image():
    instructions = dockerfile()
    stages = [arguments for keyword, arguments in instructions if keyword == 'FROM']
    assert stages[0] == 'gcr.io/dataflow-templates-base/python311-template-launcher-base AS launcher'
    launcher = '/opt/google/dataflow/python_template_launcher'
    sdk_image = max(i for i, (keyword, _) in enumerate(instructions) if keyword == 'FROM')
    assert position(instructions, 'COPY', f'--from=launcher {launcher} {launcher}') > sdk_image
    env = dict(item.split('=', 1) for keyword, arguments in instructions if keyword == 'ENV'
               for item in shlex.split(arguments))
    workdir = [arguments for keyword, arguments in instructions if keyword == 'WORKDIR'][-1]
    assert env['FLEX_TEMPLATE_PYTHON_PY_FILE'] == f'{workdir}/pipeline/run.py'
    keyword, arguments = instructions[-1]
    assert keyword == 'ENTRYPOINT' and json.loads(arguments) == ['/opt/apache/beam/boot']
    # workers would pip-install a staged setup.py package, pulling opencv-python: see the Dockerfile
    assert 'FLEX_TEMPLATE_PYTHON_SETUP_FILE' not in env
    # every package setup.py ships is in the image, on the launcher's and the workers' path
    for package in {name.split('.')[0] for name in setup_packages()}:  # a sub-package comes with its parent
        position(instructions, 'COPY', f'{package}/ {package}/')
    assert env['PYTHONPATH'] == workdir
    # GPU workers: CUDA libraries registered and loaded at build time; one GPU shared by processes
    [gpu] = [words for words in run_words(instructions) if 'templates/requirements-gpu.txt' in words]
    assert has_command(gpu, 'pip install --no-cache-dir --no-deps -r templates/requirements-gpu.txt')
    assert has_command(gpu, 'python templates/gpu_libs.py dirs > /etc/ld.so.conf.d/zz-nvidia-pip.conf')
    assert has_command(gpu, 'python templates/gpu_libs.py check')
    assert env['TF_FORCE_GPU_ALLOW_GROWTH'] == 'true'
    assert env['LD_LIBRARY_PATH'].split(':')[0] == '/usr/local/nvidia/lib64'


def test_gpu_requirements_are_tensorflows_and_cuda_pins():
    from importlib import metadata
    try:
        requires = metadata.requires('tensorflow') or []
        version = metadata.version('tensorflow')
    except metadata.PackageNotFoundError:
        pytest.skip('tensorflow is not installed here')
    pinned = {line.strip() for line in read('templates/requirements-gpu.txt').splitlines()
              if line.strip() and not line.startswith('#')}
    and_cuda = {r.split(';')[0].replace(' ', '') for r in requires if "extra == 'and-cuda'" in r}
    assert version == '2.16.2' and and_cuda == pinned


def test_gpu_libs_finds_the_wheels_lib_folders(tmp_path, monkeypatch):
    for package in ('cudnn', 'cublas'):
        (tmp_path / 'nvidia' / package / 'lib').mkdir(parents=True)
    (tmp_path / 'nvidia' / 'cublas' / 'include').mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, 'nvidia', raising=False)
    spec = importlib.util.spec_from_file_location('gpu_libs', os.path.join(ROOT, 'templates', 'gpu_libs.py'))
    gpu_libs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gpu_libs)
    assert gpu_libs.lib_dirs() == [str(tmp_path / 'nvidia' / 'cublas' / 'lib'), str(tmp_path / 'nvidia' / 'cudnn' / 'lib')]
    assert 'libcudnn.so.8' in gpu_libs.SONAMES


# the Cloud Scheduler job

def test_cloud_scheduler_job_launches_the_template_daily():
    job = scheduler_job()
    minute, hour, day, month, weekday = job['schedule'].split()
    assert minute.isdigit() and hour.isdigit() and (day, month, weekday) == ('*', '*', '*')
    target = job['httpTarget']
    assert target['httpMethod'] == 'POST'
    assert target['uri'] == ('https://dataflow.googleapis.com/v1b3/projects/proj-1/locations/europe-west4/'
                             'flexTemplates:launch')
    assert target['headers'] == {'Content-Type': 'application/json'}
    assert target['oauthToken'] == {'serviceAccountEmail': PLACEHOLDERS['SCHEDULER_SA'],
                                    'scope': 'https://www.googleapis.com/auth/cloud-platform'}
    launch = target['body']['launchParameter']
    assert launch['containerSpecGcsPath'] == 'gs://bkt-1/specscan/templates/specscan.json'
    assert launch['parameters']['input'] == 'gs://bkt-1/specscan/input/latest.csv'
    assert launch['parameters']['store'] == 'gs://bkt-1/specscan/store'  # the same every night
    assert launch['parameters']['dataflow_service_options'] == GPU_OPTION
    assert launch['environment']['sdkContainerImage'] == PLACEHOLDERS['IMAGE']
    check_launch_body(target['body'])


def launch_method():
    """(HTTP method, URL with {projectId} and {location}) of the API's flexTemplates.launch."""
    try:
        from apache_beam.runners.dataflow.internal.clients.dataflow import dataflow_v1b3_client as client
        api = client.DataflowV1b3(get_credentials=False)
        method = client.DataflowV1b3.ProjectsLocationsFlexTemplatesService(api).GetMethodConfig('Launch')
        return method.http_method, client.DataflowV1b3.BASE_URL + method.relative_path
    except ImportError:
        discovery_cache = pytest.importorskip('googleapiclient.discovery_cache')
        document = json.loads(discovery_cache.get_static_doc('dataflow', 'v1b3'))
        method = document['resources']['projects']['resources']['locations']['resources']['flexTemplates'][
            'methods']['launch']
        return method['httpMethod'], document['rootUrl'] + method['flatPath']


def test_cloud_scheduler_uri_is_the_dataflow_launch_method():
    http_method, url = launch_method()
    assert http_method == 'POST'
    assert scheduler_job()['httpTarget']['uri'] == url.format(projectId='proj-1', location='europe-west4')


def test_docs_commands_match_the_scheduler_job():
    """Prose is read as text: the commands a person copies from the docs must match the definitions."""
    docs = all_docs()
    job = scheduler_job({name: '$' + name for name in PLACEHOLDERS})
    launch = job['httpTarget']['body']['launchParameter']
    assert launch['containerSpecGcsPath'] == 'gs://$BUCKET/specscan/templates/specscan.json'
    assert launch['containerSpecGcsPath'] in docs
    assert GPU_OPTION in docs and launch['environment']['machineType'] in docs
    command = docs[docs.index('gcloud scheduler jobs create http'):]
    command = command[:command.index('```')]
    for flag in (f'--schedule="{job["schedule"]}"', f'--time-zone={job["timeZone"]}',
                 f'--uri="{job["httpTarget"]["uri"]}"', '--http-method=POST',
                 f'--oauth-token-scope={job["httpTarget"]["oauthToken"]["scope"]}',
                 f'--oauth-service-account-email={job["httpTarget"]["oauthToken"]["serviceAccountEmail"]}',
                 f'--attempt-deadline={job["attemptDeadline"]}', '--message-body-from-file=',
                 f'--max-retry-attempts={job["retryConfig"]["retryCount"]}',
                 f'--min-backoff={job["retryConfig"]["minBackoffDuration"]}'):
        assert flag in command, flag
    for command in ('gcloud dataflow flex-template build', 'gcloud dataflow flex-template run',
                    'gcloud builds submit --config templates/cloudbuild.yaml',
                    '--metadata-file templates/metadata.json', '--sdk-language PYTHON'):
        assert command in docs, command


# the Airflow DAG

def load_dag_module(name='specscan_dag'):
    """templates/airflow_dag.py imported fresh (module-level settings read the environment), or a skip."""
    pytest.importorskip('airflow')
    try:
        from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator  # noqa: F401
    except Exception as error:  # noqa: BLE001 (not installed, or without the apache-beam provider it needs)
        pytest.skip(f'apache-airflow-providers-google (with apache-beam) not usable: {error}')
    spec = importlib.util.spec_from_file_location(name, DAG_PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class Variables:
    """Stands in for Airflow's `var.value` in a template context: these values, else the default."""

    def __init__(self, **values):
        self.values = {f'specscan_{name}': value for name, value in values.items()}

    def get(self, key, default=None):
        return self.values.get(key, default)


def template_context(ds, **variables):
    """What a template of a run whose logical date is ds can read."""
    return {'ds': ds, 'ds_nodash': ds.replace('-', ''), 'var': {'value': Variables(**variables), 'json': Variables()}}


def rendered(task, ds, **variables):
    """The task after Airflow renders its templated fields for a run whose logical date is ds."""
    task.render_template_fields(template_context(ds, **variables))
    return task


def check_dated_launch(project_id, location, body):
    """A launch rendered for the run of 2026-03-14 with the DAG's default settings."""
    assert (project_id, location) == ('my-gcp-project', 'us-central1')
    launch = body['launchParameter']
    assert launch['jobName'] == 'specscan-20260314'
    assert launch['containerSpecGcsPath'] == 'gs://my-specscan-bucket/specscan/templates/specscan.json'
    assert launch['parameters']['input'] == 'gs://my-specscan-bucket/specscan/input/2026-03-14.csv'
    assert launch['parameters']['output'] == 'gs://my-specscan-bucket/specscan/output/2026-03-14'
    assert launch['environment']['sdkContainerImage'].endswith('/specscan/specscan:latest')


def check_matches_scheduler_job(body):
    """A launch Dataflow and the job accept, and the scheduler job's but for the dated input and output."""
    check_launch_body(body)
    dag_launch = body['launchParameter']
    scheduled = scheduler_job({'PROJECT': 'my-gcp-project', 'REGION': 'us-central1',
                               'BUCKET': 'my-specscan-bucket', 'IMAGE': dag_launch['environment']['sdkContainerImage'],
                               'SCHEDULER_SA': 'sa'})['httpTarget']['body']['launchParameter']
    dated = {'input', 'output'}
    assert {k: v for k, v in dag_launch['parameters'].items() if k not in dated} == \
        {k: v for k, v in scheduled['parameters'].items() if k not in dated}
    assert dag_launch['environment'] == scheduled['environment']
    assert dag_launch['containerSpecGcsPath'] == scheduled['containerSpecGcsPath']


class Built:
    """Stands in for a class of Airflow's that the DAG file uses: keeps the arguments it was built with."""
    made: list

    def __init__(self, *args, **kwargs):
        self.args, self.kwargs = args, kwargs
        self.made.append(self)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def dag_file_built(monkeypatch):
    """(DAG, timetable, operator) as templates/airflow_dag.py builds them, imported against stand-ins
    for Airflow and pendulum, with no SPECSCAN_* variable set."""
    kinds = {name: type(name, (Built,), {'made': []}) for name in ('DAG', 'Timetable', 'Operator')}
    modules = {'pendulum': {'datetime': lambda *args, **kwargs: (args, kwargs)},
               'airflow': {'DAG': kinds['DAG']}, 'airflow.sdk': {'DAG': kinds['DAG']},
               'airflow.timetables.interval': {'CronDataIntervalTimetable': kinds['Timetable']},
               'airflow.providers.google.cloud.operators.dataflow': {
                   'DataflowStartFlexTemplateOperator': kinds['Operator']}}
    for name, attributes in modules.items():
        module = types.ModuleType(name)
        module.__dict__.update(attributes)
        monkeypatch.setitem(sys.modules, name, module)
    for key in [key for key in os.environ if key.startswith('SPECSCAN_')]:
        monkeypatch.delenv(key)
    spec = importlib.util.spec_from_file_location('specscan_dag_without_airflow', DAG_PATH)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
    [dag], [timetable], [task] = (kinds[name].made for name in ('DAG', 'Timetable', 'Operator'))
    return dag, timetable, task


def render(value, ds, **variables):
    """Templated strings, however nested, rendered as Airflow renders them: Jinja, undefined names an error."""
    import jinja2
    environment, context = jinja2.Environment(undefined=jinja2.StrictUndefined), template_context(ds, **variables)
    if isinstance(value, str):
        return environment.from_string(value).render(context)
    if isinstance(value, dict):
        return {key: render(item, ds, **variables) for key, item in value.items()}
    if isinstance(value, list):
        return [render(item, ds, **variables) for item in value]
    return value


def test_nightly_dag_file_launches_what_the_scheduler_job_launches(monkeypatch):
    """Without Airflow: what the DAG file builds, its templated fields rendered for the run of 2026-03-14."""
    dag, timetable, task = dag_file_built(monkeypatch)
    assert dag.kwargs['dag_id'] == 'specscan_nightly' and dag.kwargs['schedule'] is timetable
    assert dag.kwargs['catchup'] is False and dag.kwargs['max_active_runs'] == 1
    assert timetable.args == ('0 2 * * *',) and timetable.kwargs == {'timezone': 'UTC'}
    assert task.kwargs['task_id'] == 'launch_specscan'
    assert task.kwargs['append_job_name'] is True and task.kwargs['wait_until_finished'] is True
    fields = render({name: task.kwargs[name] for name in ('project_id', 'location', 'body')}, '2026-03-14')
    check_dated_launch(fields['project_id'], fields['location'], fields['body'])
    check_matches_scheduler_job(fields['body'])
    # an Airflow Variable replaces a default when the task runs
    other = render(task.kwargs['body'], '2026-03-14', bucket='b2', template='gs://elsewhere/specscan.json')
    assert other['launchParameter']['parameters']['input'] == 'gs://b2/specscan/input/2026-03-14.csv'
    assert other['launchParameter']['containerSpecGcsPath'] == 'gs://elsewhere/specscan.json'


def test_dag_builds_the_flex_template_operator():
    module = load_dag_module()
    from airflow.providers.google.cloud.operators.dataflow import DataflowStartFlexTemplateOperator
    dag = module.dag
    assert dag.dag_id == 'specscan_nightly' and not dag.catchup and dag.max_active_runs == 1
    assert [t.task_id for t in dag.tasks] == ['launch_specscan']
    task = dag.get_task('launch_specscan')
    assert isinstance(task, DataflowStartFlexTemplateOperator)
    assert {'body', 'location', 'project_id'} <= set(task.template_fields)
    assert task.wait_until_finished is True and task.append_job_name is True
    launch = task.body['launchParameter']
    assert launch['parameters']['input'].endswith('/specscan/input/{{ ds }}.csv')
    assert launch['parameters']['output'].endswith('/specscan/output/{{ ds }}')
    assert launch['parameters']['store'].endswith('/specscan/store')  # not dated: every night reuses it
    assert launch['jobName'] == 'specscan-{{ ds_nodash }}'
    assert launch['parameters']['dataflow_service_options'] == GPU_OPTION
    assert '/specscan/templates/specscan.json' in launch['containerSpecGcsPath']
    assert "var.value.get('specscan_region'" in task.location


def test_dag_runs_daily_on_the_previous_day():
    dag = load_dag_module().dag
    import pendulum
    assert dag.timetable.summary == '0 2 * * *'
    interval = dag.timetable.infer_manual_data_interval(run_after=pendulum.datetime(2026, 3, 15, 2, tz='UTC'))
    assert interval.end - interval.start == pendulum.duration(days=1)
    assert interval.start.to_date_string() == '2026-03-14'  # the run at 02:00 on the 15th has ds 2026-03-14


def test_dag_renders_dated_paths_for_a_logical_date():
    task = rendered(load_dag_module().dag.get_task('launch_specscan'), '2026-03-14')
    check_dated_launch(task.project_id, task.location, task.body)


def test_dag_settings_come_from_variables_then_environment(monkeypatch):
    monkeypatch.setenv('SPECSCAN_BUCKET', 'env-bucket')
    monkeypatch.setenv('SPECSCAN_PROJECT', 'env-project')
    task = load_dag_module('specscan_dag_env').dag.get_task('launch_specscan')
    rendered(task, '2026-03-14', project='var-project', region='asia-east1', image='img:1',
             template='gs://elsewhere/specscan.json')
    launch = task.body['launchParameter']
    assert (task.project_id, task.location) == ('var-project', 'asia-east1')
    assert launch['parameters']['input'] == 'gs://env-bucket/specscan/input/2026-03-14.csv'
    assert launch['containerSpecGcsPath'] == 'gs://elsewhere/specscan.json'
    assert launch['environment']['sdkContainerImage'] == 'img:1'


def test_dag_launch_body_is_valid_and_matches_the_scheduler_job():
    pytest.importorskip('apache_beam')
    task = rendered(load_dag_module().dag.get_task('launch_specscan'), '2026-03-14')
    check_matches_scheduler_job(task.body)


def test_dag_task_posts_the_launch_request(monkeypatch):
    """The provider's own code path, down to the HTTP request, with a fake Dataflow answering."""
    from unittest import mock

    module = load_dag_module()
    googleapiclient_discovery = pytest.importorskip('googleapiclient.discovery')
    import httplib2
    from airflow.providers.google.cloud.hooks.dataflow import DataflowHook
    from airflow.providers.google.cloud.operators import dataflow as operators

    monkeypatch.setenv('AIRFLOW_CONN_GOOGLE_CLOUD_DEFAULT', 'google-cloud-platform://')
    task = rendered(module.dag.get_task('launch_specscan'), '2026-03-14')
    task.poll_sleep = 0
    sent = []

    class FakeDataflow:
        def request(self, uri, method='GET', body=None, headers=None, **kwargs):
            sent.append((method, uri.split('?')[0], json.loads(body) if body else None))
            job = {'id': 'job-1', 'name': 'specscan-20260314', 'projectId': 'my-gcp-project',
                   'location': 'us-central1', 'type': 'JOB_TYPE_BATCH', 'currentState': 'JOB_STATE_DONE'}
            return httplib2.Response({'status': '200'}), json.dumps({'job': job} if method == 'POST' else job).encode()

    service = googleapiclient_discovery.build('dataflow', 'v1b3', http=FakeDataflow(), static_discovery=True)
    task_instance = mock.MagicMock()
    with mock.patch.object(DataflowHook, 'get_conn', return_value=service), \
            mock.patch.object(operators.DataflowJobLink, 'persist'):
        job = task.execute({'task_instance': task_instance})
    assert job['currentState'] == 'JOB_STATE_DONE'
    method, uri, body = sent[0]
    launch_uri = 'https://dataflow.googleapis.com/v1b3/projects/my-gcp-project/locations/us-central1/flexTemplates:launch'
    assert (method, uri) == ('POST', launch_uri)
    launch = body['launchParameter']
    assert re.fullmatch(r'specscan-20260314-[0-9a-f]{8}', launch['jobName'])  # append_job_name
    assert launch['parameters']['input'] == 'gs://my-specscan-bucket/specscan/input/2026-03-14.csv'
    assert launch['parameters']['dataflow_service_options'] == GPU_OPTION
    assert [m for m, _, _ in sent[1:]] == ['GET'] * (len(sent) - 1)  # then it polls the job until done
    task_instance.xcom_push.assert_called_with(key='job_id', value='job-1')
